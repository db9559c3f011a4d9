import Foundation
import Logging
import Metrics

/// The files salvage writes: rebuilt tombstone, dead-letter and dropped files, replacements that keep the
/// original whole (beside it or in quarantine/), and the quarantine records.
extension SegmentSalvage {
    /// Replaces a damaged tombstone or dead-letter file `name` by its valid frames, keeping the original
    /// as `keep` says. Its identity is the outbox's id (`reference`, or with no other file the id field of
    /// its damaged header) and the base its name gives; its max record size its own, or the segments'.
    /// Returns what was done. Lost tombstones make their messages pending again (published again).
    package static func rebuildOther(_ name: String, kind: FileHeader.Kind, base: UInt64, reference: OutboxID?,
                                     in directory: OutboxDirectory, keep: Keep) throws -> String {
        let file = try directory.openFile(name, writable: false)
        let own = try? LogFile.checkHeader(of: file, kind: kind, expectedBase: base, outboxID: nil)
        let id = try reference ?? own?.outboxID ?? OutboxID(bytes: file.read(at: 16, count: 16))
        let identity = FileIdentity(outboxID: id, base: base)
        let maxRecordSize = own?.maxRecordSize ?? otherSegmentsMaxRecordSize(in: directory, except: name)
        let version = own?.version ?? guessedVersion(file)
        // An encrypted dead letter is sealed again for its new offset (FORMAT.md §10), which needs the key.
        let encrypted = own?.encrypted ?? guessedEncrypted(file)
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxRecordSize, version: version,
                                   kinds: FrameContent.kinds(in: kind, version: version), size: try file.size(),
                                   validate: { h, body in FrameContent.problem(h, body, in: kind, version: version, encrypted: encrypted, maxBody: maxRecordSize) })
        // The replacement is of the current version, created whole: one write from its first frame.
        let tag = FrameHeader.writeTag(start: Int64(FileHeader.size), version: FileHeader.currentVersion)
        var frames: [[UInt8]] = []
        var offset = Int64(FileHeader.size)
        let epoch = UInt64.random(in: 0...UInt64.max)
        func place(_ at: Int64) -> Envelope.Place { Envelope.Place(outboxID: id, kind: kind, base: base, offset: at, file: file.path) }
        try scanner.forEachValidFrame { f in
            let frame = try Envelope.reframe(f, from: place(f.offset), to: place(offset), encrypted: encrypted, tag: tag,
                                             keys: directory.keys, epoch: epoch)
            offset += Int64(frame.count)
            frames.append(frame)
            return true
        }
        var header = FileHeader(kind: kind, outboxID: id, base: base, maxRecordSize: maxRecordSize, createdAtMicros: OutboxMessage.micros(Date()))
        if encrypted { header = header.encrypting() }
        try replace(name, with: [header.encode()] + frames, in: directory, keep: keep, lost: SequenceRangeSet(), suffix: ".broken")
        return "rebuilt \(name) from its \(frames.count) valid frame(s) (\(keptWhere(name, keep, ".broken")))"
            + (kind == .tombstones ? "; messages whose tombstones were lost will be published again" : "")
    }

    /// The format version a file whose header is damaged was most likely written with: its version field if
    /// that is a version this build reads, else the current one (its frames' flags depend on it).
    static func guessedVersion(_ file: OutboxFile) -> UInt16 {
        guard let bytes = try? file.read(at: 8, count: 2), bytes.count == 2 else { return FileHeader.currentVersion }
        let version = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        return FileHeader.readableVersions.contains(version) ? version : FileHeader.currentVersion
    }

    /// Whether a file whose header is damaged was most likely encrypted: its flags field reads 1 (FORMAT.md
    /// §2), or its version field 7.
    static func guessedEncrypted(_ file: OutboxFile) -> Bool {
        guard let bytes = try? file.read(at: 8, count: 8), bytes.count == 8 else { return false }
        return bytes[4] == 1 || (bytes[0] == 7 && bytes[1] == 0)
    }

    /// The max record size a segment other than `except` with a valid header names, or the default.
    static func otherSegmentsMaxRecordSize(in directory: OutboxDirectory, except: String) -> UInt32 {
        let segments = (try? FileNames.list(directory).segments) ?? []
        return segments.lazy.filter { $0.name != except }.compactMap { s in
            (try? directory.openFile(s.name, writable: false)).flatMap {
                try? LogFile.checkHeader(of: $0, kind: .segment, expectedBase: s.base, outboxID: nil).maxRecordSize
            }
        }.first ?? UInt32(OutboxConfiguration().maxRecordSize)
    }

    /// Replaces `name` by `contents`, keeping the original whole where `keep` says.
    static func replace(_ name: String, with contents: [[UInt8]], in directory: OutboxDirectory, keep: Keep,
                        lost: SequenceRangeSet, suffix: String) throws {
        let keptAs: String
        var keptIn: OutboxDirectory?
        switch keep {
        case .beside:
            keptAs = unusedName(name + suffix, in: directory)
        case .quarantine(let reason, let offset):
            try ensureQuarantineDirectory(directory)
            let folder = try OutboxDirectory.open(directory.pathOf(quarantineDirectory), create: false, sys: directory.sys, keys: directory.keys)
            keptAs = unusedName(quarantineDirectory + "/" + name, in: directory)
            try writeRecord(for: String(keptAs.dropFirst(quarantineDirectory.count + 1)), file: name, reason: reason, offset: offset,
                            lost: lost, in: folder)
            keptIn = folder
        }
        // The kept copy's directory entry is durable before the original is replaced.
        try directory.replaceFile(name, keepingOldAs: keptAs, in: keptIn, contents: contents)
    }

    /// Where `keep` puts the original of `name`, in words.
    static func keptWhere(_ name: String, _ keep: Keep, _ suffix: String) -> String {
        switch keep {
        case .beside: "original kept as \(name)\(suffix)"
        case .quarantine: "original moved to \(quarantineDirectory)/"
        }
    }

    /// `candidate`, or `candidate.N` for the first N not taken.
    static func unusedName(_ candidate: String, in directory: OutboxDirectory) -> String {
        var name = candidate
        var n = 1
        while (try? directory.openFile(name, writable: false)) != nil {
            name = candidate + ".\(n)"
            n += 1
        }
        return name
    }

    static func ensureQuarantineDirectory(_ directory: OutboxDirectory) throws {
        let path = directory.pathOf(quarantineDirectory)
        do { try directory.sys.mkdir(path, 0o700) } catch let e as Errno where e.code == EEXIST {
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw OutboxError(.corrupt, "\(quarantineDirectory) exists but is not a directory", path: path)
            }
        } catch let e as Errno {
            throw OutboxError.failed(.mkdir, errno: e.code, path: path)
        }
        try directory.syncDirectory()
    }

    /// `quarantine/NAME.json`: why the file is there and which numbers it held (FORMAT.md §1a).
    static func writeRecord(for keptAs: String, file: String, reason: String, offset: Int64?, lost: SequenceRangeSet,
                                    in folder: OutboxDirectory) throws {
        var record: [String: Any] = [
            "file": file, "reason": reason, "lost": lost.description,
            "quarantinedAtMicros": OutboxMessage.micros(Date()),
        ]
        if let offset { record["offset"] = offset }
        if let base = FileNames.parseSegment(file) { record["base"] = base }
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        // Created as every outbox file is (FORMAT.md §1, §6): mode 0600, a temporary name, fsync, rename,
        // fsync of the quarantine directory.
        _ = try folder.createFile(keptAs + ".json", contents: [Array(data)])
    }
}
