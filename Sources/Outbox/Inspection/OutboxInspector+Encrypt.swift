import Foundation
import Logging

extension OutboxInspector {
    /// Encrypts what an outbox still holds in clear (FORMAT.md §10): every segment and a dead-letter file
    /// written before encryption was turned on are rewritten with `keys`' current key, each file replaced
    /// whole (a temporary file, fsync, rename over the old one, fsync of the directory), so that a crash at
    /// any point leaves each file either as it was or encrypted, both readable with the key. Nothing is
    /// lost: every frame keeps its numbers, kind and records, each sealed record is opened again with the
    /// key and compared before its file replaces the old one, and the plain bytes are gone once the file
    /// system drops the old file (flash may keep copies of old blocks: see README, "Encryption at rest").
    ///
    /// Refuses (``OutboxError/Code/locked``) while a writer or a relay holds the outbox, a damaged outbox
    /// (``OutboxError/Code/corrupt``: `verify --repair` first) and a retired key
    /// (``OutboxError/Code/retiredKey``). Returns what it did, a line per file; an outbox with nothing in
    /// clear is left as it is.
    public static func encrypt(path: String, keys: OutboxKeys, logger: Logger = Logger(label: "outbox.encrypt")) async throws -> [String] {
        let sys = LinuxSystemCalls()
        return try await onDedicatedThread("outbox-encrypt") {
            let directory = try OutboxDirectory.open(path, create: false, sys: sys, keys: keys)
            return try encrypt(directory, logger: logger)
        }
    }

    package static func encrypt(_ directory: OutboxDirectory, logger: Logger) throws -> [String] {
        let writerLock = try lockFor("encrypt", FileLock.writerLockName, in: directory, role: "writing")
        defer { writerLock.release() }
        let relayLock = try lockFor("encrypt", FileLock.relayLockName, in: directory, role: "relaying")
        defer { relayLock.release() }
        if let damage = try verify(directory).problems.first(where: { $0.kind != .leftoverFile }) {
            throw OutboxError(.corrupt, "refusing to encrypt a damaged outbox (\(damage.file): \(damage.reason)); run outbox verify --repair first",
                              path: directory.path)
        }
        guard let keys = directory.keys else { throw OutboxError(.missingKey, "encrypting needs a key", path: directory.path) }
        let listing = try FileNames.list(directory)
        var plain: [(name: String, base: UInt64, next: UInt64?)] = []
        for (i, s) in listing.segments.enumerated() {
            let segment = try SegmentFile.open(s.name, base: s.base, in: directory)
            if !segment.header.encrypted { plain.append((s.name, s.base, i + 1 < listing.segments.count ? listing.segments[i + 1].base : nil)) }
        }
        let letters = try plainDeadLetterFile(directory)
        guard !plain.isEmpty || letters else { return [] }
        // The keyring names the key before the first frame it seals (and refuses a retired one).
        try Keyring.noteInUse(keys.current.id, in: directory, logger: logger)
        var actions: [String] = []
        for s in plain {
            let n = try encryptFile(s.name, kind: .segment, base: s.base, sealEnd: s.next, in: directory, keys: keys)
            actions.append("encrypted \(s.name) (\(n) frames) with key \(keys.current.id)")
        }
        if letters {
            let n = try encryptFile(DeadLetterLog.fileName, kind: .deadLetters, base: 1, sealEnd: nil, in: directory, keys: keys)
            actions.append("encrypted \(DeadLetterLog.fileName) (\(n) frames) with key \(keys.current.id)")
        }
        for a in actions { logger.info("\(a)") }
        return actions
    }

    /// Whether the dead-letter file exists and is plain.
    private static func plainDeadLetterFile(_ directory: OutboxDirectory) throws -> Bool {
        let file: OutboxFile
        do { file = try directory.openFile(DeadLetterLog.fileName, writable: false) } catch let e as OutboxError where e.errno == ENOENT {
            return false
        }
        return !(try LogFile.checkHeader(of: file, kind: .deadLetters, expectedBase: 1, outboxID: nil).encrypted)
    }

    /// Rewrites plain file `name` encrypted: its frames (a segment's seal recomputed for the new offsets,
    /// `sealEnd` being the next segment's base; none for the last segment) as one write under a new epoch.
    /// Returns how many frames it holds.
    private static func encryptFile(_ name: String, kind: FileHeader.Kind, base: UInt64, sealEnd: UInt64?, in directory: OutboxDirectory,
                                    keys: OutboxKeys) throws -> Int {
        let log = try LogFile.open(try directory.openFile(name, writable: false), kind: kind, base: base, outboxID: nil)
        let header = log.header.encrypting()
        let identity = FileIdentity(outboxID: header.outboxID, base: base)
        let tag = FrameHeader.writeTag(start: Int64(FileHeader.size), version: header.version)
        let epoch = UInt64.random(in: 0...UInt64.max)
        var frames: [[UInt8]] = []
        var offset = Int64(FileHeader.size)
        let path = directory.pathOf(name)
        try log.scanner.walk(tail: .stop) { f in
            let h = f.header
            if h.kind == .seal { return true }
            let place = Envelope.Place(outboxID: identity.outboxID, kind: kind, base: base, offset: offset, file: path)
            let frame: [UInt8]
            if Envelope.sealsRecords(h.kind) {
                let split = Envelope.clearPrefix(h.kind, f.body)
                let (prefix, records) = (f.body[..<split], f.body[split...])
                frame = try Envelope.frame(kind: h.kind, first: h.first, count: h.count, prefix: prefix, records: records, place: place, tag: tag,
                                           keys: keys, epoch: epoch)
                // Opened again with the key before the plain file goes.
                let sealed = FrameHeader(bodyLength: UInt32(frame.count - FrameHeader.size), first: h.first, count: h.count, kind: h.kind, flags: tag)
                let opened = try Envelope.open(frame[(FrameHeader.size + split)...], keys: keys, place: place, header: sealed, prefix: prefix)
                guard opened[...] == records else {
                    throw OutboxError(.io, "a frame sealed for encryption did not open to its records; nothing was replaced", path: path, offset: f.offset)
                }
            } else {
                frame = FrameHeader.frame(kind: h.kind, first: h.first, count: h.count, body: f.body, identity: identity, offset: offset, tag: tag)
            }
            frames.append(frame)
            offset += Int64(frame.count)
            return true
        }
        if kind == .segment, let sealEnd, let seal = SegmentSalvage.seal(frames, end: sealEnd, version: header.version, identity: identity) {
            frames.append(seal)
        }
        _ = try directory.createFile(name, contents: [header.encode()] + frames)
        return frames.count
    }

    /// The lock `name` for a maintenance command `what`, refused in one line while another process holds it.
    static func lockFor(_ what: String, _ name: String, in directory: OutboxDirectory, role: String) throws -> FileLock {
        do { return try FileLock.acquire(name, in: directory, role: role) } catch var e as OutboxError where e.code == .locked {
            e.message = "refusing to \(what): \(e.message); stop it first"
            throw e
        }
    }
}
