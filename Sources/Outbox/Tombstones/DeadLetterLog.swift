#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The dead-letter file, `dead-letters.log` (FORMAT.md §5a).
///
/// Appends (dead letters and redriven marks by the relay, redrive requests by the tool) hold an exclusive
/// `flock` on the file itself for the duration of one write and `fdatasync`, so two processes can append
/// safely; each appender first checks the frames written since it last looked and cuts a torn tail left by
/// a crashed appender. A dead letter is durable before its message is tombstoned as dead.
///
/// The file is read in order: a dead-letter record of a sequence number supersedes its earlier ones (a
/// redriven message that died again), and a redrive-requested or redriven mark applies to the records
/// written before it.
package enum DeadLetterLog {
    package static let fileName = FileNames.deadLetters
    static let reasonHeader = "outbox-dead-reason"
    static let errorHeader = "outbox-dead-error"
    static let attemptsHeader = "outbox-dead-attempts"
    static let deadAtHeader = "outbox-dead-at"
    /// The route that gave up on the message, when the relay has several (FORMAT.md §5a).
    static let routeHeader = "outbox-dead-route"
    /// The message's schema version (``OutboxMessage/schemaVersion``), if it has one (FORMAT.md §5a).
    static let schemaVersionHeader = "outbox-dead-schema-version"

    /// Appends dead letters (creating the file on first use), durably. Only the holder of the relay lock
    /// calls this.
    static func append(_ letters: [DeadLetter], in directory: OutboxDirectory, outboxID: OutboxID, maxRecordSize: UInt32) throws {
        guard !letters.isEmpty else { return }
        try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: true) { identity, end, tag, header in
            var buffer: [UInt8] = []
            let version = header.version
            // In an encrypted file (header flag bit 0) each record goes into an envelope (FORMAT.md §10).
            let keys = header.encrypted ? try Self.keys(directory) : nil
            let epoch = UInt64.random(in: 0...UInt64.max)
            for letter in letters {
                var m = letter.message
                m.headers = [.init(reasonHeader, letter.reason), .init(errorHeader, letter.lastError),
                             .init(attemptsHeader, "\(letter.attempts)"), .init(deadAtHeader, "\(letter.deadAtMicros)")]
                    + (letter.route.map { [.init(routeHeader, $0)] } ?? [])
                    + (m.schemaVersion.map { [.init(schemaVersionHeader, "\($0)")] } ?? []) + m.headers
                // A file of version 6 on keeps the message's lane; an older one cannot (redriven as `normal`).
                let body = try MessageCodec.encode([m], compressionThreshold: 4096, maxBody: Int(maxRecordSize) - (keys == nil ? 0 : Envelope.overhead),
                                                   lanes: version >= FileHeader.lanesVersion ? .names : .none)
                let place = Envelope.Place(outboxID: identity.outboxID, kind: .deadLetters, base: identity.base, offset: end + Int64(buffer.count),
                                           file: directory.pathOf(fileName))
                buffer += try Envelope.frame(kind: .deadLetter, first: letter.seq, count: 1, prefix: [], records: body[...], place: place, tag: tag,
                                             keys: keys, epoch: epoch)
            }
            return buffer
        }
    }

    /// Records, durably, that the dead letters of `seqs` were republished (`.redriven`, by the relay) or
    /// that an operator asked for them to be (`.redriveRequested`, by the tool, without any lock but the
    /// file's own). With `route`, the mark is that route's (a route-mark frame): it applies to the dead
    /// letters that route gave up on, not to another route's letters of the same numbers.
    static func mark(_ seqs: SequenceRangeSet, _ kind: FrameKind, route: String? = nil, in directory: OutboxDirectory,
                     outboxID: OutboxID, maxRecordSize: UInt32) throws {
        precondition(kind == .redriven || kind == .redriveRequested)
        guard !seqs.isEmpty else { return }
        try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: false) { identity, end, tag, _ in
            if let route {
                return RouteTombstoneCodec.frames(seqs, route: route, status: kind, maxBody: Int(maxRecordSize), identity: identity,
                                                  offset: end, tag: tag)
            }
            return TombstoneCodec.frames(seqs, kind: kind, maxBody: Int(maxRecordSize), identity: identity, offset: end, tag: tag)
        }
    }

    /// The keys to seal dead letters with, or ``OutboxError/Code/missingKey`` for an encrypted file.
    private static func keys(_ directory: OutboxDirectory) throws -> OutboxKeys {
        guard let keys = directory.keys else {
            throw OutboxError(.missingKey, "the dead-letter file is encrypted and no key was given", path: directory.pathOf(fileName))
        }
        return keys
    }

    /// The max record size the dead-letter file's header states.
    static func maxRecordSize(in directory: OutboxDirectory, outboxID: OutboxID) throws -> UInt32 {
        let file = try directory.openFile(fileName, writable: false)
        return try LogFile.checkHeader(of: file, kind: .deadLetters, expectedBase: 1, outboxID: outboxID).maxRecordSize
    }

    /// The dead-letter file's size, or 0 when there is none (the relay's cheap check for new requests).
    static func size(in directory: OutboxDirectory) throws -> Int64 {
        do { return try directory.openFile(fileName, writable: false).size() } catch let e as OutboxError where e.errno == ENOENT {
            return 0
        }
    }

    /// How many letter frames of the file each key encrypted (FORMAT.md §10), and whether the file is
    /// plain (its letters in clear); read without keys, by the envelopes' clear fields. No file: none.
    static func keyUse(in directory: OutboxDirectory, outboxID: OutboxID) throws -> (letters: [OutboxKeys.ID: Int], plainLetters: Int) {
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: false) } catch let e as OutboxError where e.errno == ENOENT {
            return ([:], 0)
        }
        let log = try logFile(for: file, outboxID: outboxID)
        var (counts, plain) = ([OutboxKeys.ID: Int](), 0)
        try log.scanner.walk(tail: .stop) { frame in
            guard frame.header.kind == .deadLetter else { return true }
            if !log.header.encrypted {
                plain += 1
            } else if let (_, id, _) = Envelope.peek(frame.body[...]) {
                counts[id, default: 0] += 1
            }
            return true
        }
        return (counts, plain)
    }

    /// The latest dead letter of each sequence number (of each route, when several routes gave up on
    /// one), in the order they were written, with their redriven and redrive-requested states (no lock: a
    /// reader).
    static func list(in directory: OutboxDirectory, outboxID: OutboxID) throws -> [DeadLetter] {
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: false) } catch let e as OutboxError where e.errno == ENOENT {
            return []
        }
        let log = try logFile(for: file, outboxID: outboxID)
        let scanner = log.scanner
        var letters: [DeadLetter] = []
        var latest: [LetterKey: Int] = [:]
        try scanner.walk(tail: .stop) { frame in
            do {
                switch frame.header.kind {
                case .redriven, .redriveRequested, .routeRanges:
                    // Marks apply to records written before them (a route's, to that route's records only);
                    // only the numbers present are looked at.
                    let (route, kind, ranges) = try marks(frame)
                    for r in ranges {
                        for (key, i) in latest where r.contains(key.seq) && (route == nil || key.route == route) {
                            if kind == .redriven {
                                letters[i].redriven = true
                                letters[i].redriveRequested = false
                            } else if !letters[i].redriven {
                                letters[i].redriveRequested = true
                            }
                        }
                    }
                default:
                    let place = Envelope.Place(outboxID: scanner.identity.outboxID, kind: .deadLetters, base: scanner.identity.base,
                                               offset: frame.offset, file: file.path)
                    guard let letter = try decodeLetter(frame, header: log.header, place: place, keys: directory.keys) else { return true }
                    latest[LetterKey(seq: letter.seq, route: letter.route)] = letters.count
                    letters.append(letter)
                }
            } catch let e as OutboxError where e.code == .missingKey || e.code == .wrongKey || e.code == .corrupt {
                throw e  // a key's absence is not damage; an envelope that does not authenticate says so itself
            } catch {
                throw OutboxError(.corrupt, "frame content is invalid: \(error)", path: file.path, offset: frame.offset)
            }
            return true
        }
        let current = Set(latest.values)
        return letters.indices.filter { current.contains($0) }.map { letters[$0] }
    }

    /// A mark frame's route (nil: every route's letters), kind (redriven or redrive requested) and ranges.
    private static func marks(_ frame: Frame) throws -> (route: String?, kind: FrameKind, ranges: [ClosedRange<UInt64>]) {
        let (count, first) = (Int(frame.header.count), frame.header.first)
        guard frame.header.kind == .routeRanges else {
            return (nil, frame.header.kind, try TombstoneCodec.decode(frame.body, count: count, first: first))
        }
        let m = try RouteTombstoneCodec.decodeRanges(frame.body, count: count, first: first, statuses: RouteTombstoneCodec.marks)
        return (m.route, m.status, m.ranges)
    }

    /// A dead letter supersedes the earlier ones of its number and route.
    private struct LetterKey: Hashable {
        let seq: UInt64
        let route: String?
    }

    private static func logFile(for file: OutboxFile, outboxID: OutboxID) throws -> LogFile {
        try LogFile.open(file, kind: .deadLetters, base: 1, outboxID: outboxID)
    }

    /// The dead letter a dead-letter frame holds, with the headers of its own taken out.
    private static func decodeLetter(_ frame: Frame, header: FileHeader, place: Envelope.Place, keys: OutboxKeys?) throws -> DeadLetter? {
        let body = header.encrypted
            ? try Envelope.open(frame.body[...], keys: keys, place: place, header: frame.header, prefix: [])
            : frame.body
        guard let d = try MessageCodec.decode(body, count: 1, maxBody: Int.max, lanes: header.version >= FileHeader.lanesVersion ? .names : .none).first else { return nil }
        var m = d.message
        // The record's own headers are the leading run of headers named as the five, each once, in any
        // order (FORMAT.md §5a); from the first other header (or a repeat) on, the headers are the message's.
        let own: Set<String> = [reasonHeader, errorHeader, attemptsHeader, deadAtHeader, routeHeader, schemaVersionHeader]
        var values: [String: String] = [:]
        for h in m.headers {
            guard own.contains(h.name), values[h.name] == nil else { break }
            values[h.name] = h.value
        }
        m.headers.removeFirst(values.count)
        // A missing field reads as empty text or 0; so does a number that is not plain decimal.
        let reason = values[reasonHeader] ?? "", error = values[errorHeader] ?? ""
        let attempts = Self.decimal(values[attemptsHeader]).flatMap { Int(exactly: $0) } ?? 0
        let deadAt = Self.decimal(values[deadAtHeader]).flatMap { Int64(exactly: $0) } ?? 0
        m.schemaVersion = Self.decimal(values[schemaVersionHeader]).flatMap { $0 <= UInt64(UInt32.max) ? Int($0) : nil }
        return DeadLetter(seq: frame.header.first, message: m, reason: reason, lastError: error, attempts: attempts,
                          deadAtMicros: deadAt, redriven: false, route: values[routeHeader])
    }

    /// `text` as a plain decimal number (ASCII digits only, at most 18 of them), or nil.
    private static func decimal(_ text: String?) -> UInt64? {
        guard let text, !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return UInt64(text)
    }

    /// Opens (or creates) the file, takes its flock, cuts a torn tail, appends what `frames` returns
    /// at the end, fdatasyncs, and unlocks.
    private static func withLockedFile(
        _ directory: OutboxDirectory, outboxID: OutboxID, maxRecordSize: UInt32, create: Bool,
        _ frames: (FileIdentity, Int64, UInt16, FileHeader) throws -> [UInt8]
    ) throws {
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: true) } catch let e as OutboxError where e.errno == ENOENT {
            guard create else { throw OutboxError(.invalidArgument, "there are no dead letters", path: directory.pathOf(fileName)) }
            var header = FileHeader(kind: .deadLetters, outboxID: outboxID, base: 1, maxRecordSize: maxRecordSize,
                                    createdAtMicros: OutboxMessage.micros(Date()))
            if directory.keys != nil { header = header.encrypting() }  // FORMAT.md §10
            // Only the relay (holder of relay.lock) creates the file, so creators never race.
            _ = try directory.createFile(fileName, contents: [header.encode()])
            return try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: false, frames)
        }
        do { try directory.sys.flock(file.fd, LOCK_EX) } catch let e as Errno {
            throw OutboxError.failed(.flock, errno: e.code, path: file.path)
        }
        defer { try? directory.sys.flock(file.fd, LOCK_UN) }
        let log = try logFile(for: file, outboxID: outboxID)
        let scanner = log.scanner
        let logger = Logger(label: "outbox.dead-letters")
        let end = try RecoveryPolicy.truncate(logger).walk(scanner) { _ in true }
        if create, directory.keys != nil, !log.header.encrypted {
            // Encryption was turned on after the file was made: an empty one is made an encrypted one
            // (only the relay creates it, so no other appender races); one holding letters stays plain.
            if end == Int64(FileHeader.size) {
                try? directory.sys.flock(file.fd, LOCK_UN)
                var header = try LogFile.checkHeader(of: file, kind: .deadLetters, expectedBase: 1, outboxID: outboxID)
                header.version = FileHeader.currentVersion
                _ = try directory.createFile(fileName, contents: [header.encrypting().encode()])
                return try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: create, frames)
            }
            logger.warning("dead letters of an encrypted outbox go into a dead-letter file made before encryption was turned on, in clear (outbox encrypt rewrites it)",
                           metadata: ["file": "\(file.path)"])
        }
        // One write at `end`: its frames carry its tag (FORMAT.md §3).
        let bytes = try frames(scanner.identity, end, FrameHeader.writeTag(start: end, version: scanner.version), log.header)
        try file.write(bytes, at: end)
        try file.dataSync()
    }
}

import Logging
