#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A message the relay gave up on, as kept in the dead-letter file.
public struct DeadLetter: Sendable, Equatable {
    /// The sequence number it had in the outbox.
    public var seq: UInt64
    /// The message as it was appended.
    public var message: OutboxMessage
    /// Why it was dead-lettered (attempts exhausted, deadline passed, rejected by the sink).
    public var reason: String
    /// The last error the sink reported.
    public var lastError: String
    /// How many publish attempts were made.
    public var attempts: Int
    /// When it was dead-lettered, in microseconds since the Unix epoch.
    public var deadAtMicros: Int64
    /// Whether it was re-appended with `redrive` since.
    public var redriven: Bool
}

/// The dead-letter file, `dead-letters.log` (FORMAT.md, "Dead-letter file").
///
/// Appends (by the relay, and `redrive` marks by the tool) hold an exclusive `flock` on the file itself
/// for the duration of one write and `fdatasync`, so two processes can append safely; each appender first
/// checks the frames written since it last looked and cuts a torn tail left by a crashed appender.
/// A dead letter is durable before its message is tombstoned as dead.
enum DeadLetterLog {
    static let fileName = "dead-letters.log"
    static let reasonHeader = "outbox-dead-reason"
    static let errorHeader = "outbox-dead-error"
    static let attemptsHeader = "outbox-dead-attempts"
    static let deadAtHeader = "outbox-dead-at"

    /// Appends dead letters (creating the file on first use), durably. Only the holder of the relay lock
    /// calls this.
    static func append(_ letters: [DeadLetter], in directory: OutboxDirectory, outboxID: OutboxID, maxRecordSize: UInt32) throws {
        guard !letters.isEmpty else { return }
        try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: true) { file, identity, end in
            var buffer: [UInt8] = []
            for letter in letters {
                var m = letter.message
                m.headers = [.init(reasonHeader, letter.reason), .init(errorHeader, letter.lastError),
                             .init(attemptsHeader, "\(letter.attempts)"), .init(deadAtHeader, "\(letter.deadAtMicros)")] + m.headers
                let body = try MessageCodec.encode([m], compressionThreshold: 4096, maxBody: Int(maxRecordSize))
                buffer += FrameHeader.frame(kind: .deadLetter, first: letter.seq, count: 1, body: body, identity: identity,
                                            offset: end + Int64(buffer.count))
            }
            return buffer
        }
    }

    /// Records that the dead letters of `seqs` were redriven.
    static func markRedriven(_ seqs: SequenceRangeSet, in directory: OutboxDirectory, outboxID: OutboxID, maxRecordSize: UInt32) throws {
        guard !seqs.isEmpty else { return }
        try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: false) { _, identity, end in
            var buffer: [UInt8] = []
            for chunk in TombstoneCodec.chunks(seqs.ranges, maxBody: Int(maxRecordSize)) {
                buffer += FrameHeader.frame(kind: .redriven, first: chunk.first!.lowerBound, count: UInt32(chunk.count),
                                            body: TombstoneCodec.encode(chunk), identity: identity, offset: end + Int64(buffer.count))
            }
            return buffer
        }
    }

    /// Every dead letter, in the order they were written (no lock: a reader).
    static func list(in directory: OutboxDirectory, outboxID: OutboxID) throws -> [DeadLetter] {
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: false) } catch let e as OutboxError where e.errno == ENOENT {
            return []
        }
        let scanner = try scanner(for: file, outboxID: outboxID)
        var letters: [DeadLetter] = []
        var redriven = SequenceRangeSet()
        try scanner.walk(tail: .stop) { frame in
            try collect(frame, into: &letters, redriven: &redriven, path: file.path)
            return true
        }
        for i in letters.indices where redriven.contains(letters[i].seq) { letters[i].redriven = true }
        return letters
    }

    private static func scanner(for file: OutboxFile, outboxID: OutboxID) throws -> FrameScanner {
        let header = try SegmentFile.checkHeader(of: file, kind: .deadLetters, expectedBase: 1, outboxID: outboxID)
        return FrameScanner(file: file, identity: FileIdentity(outboxID: outboxID, base: 1), maxBody: header.maxRecordSize,
                            kinds: FrameContent.kinds(in: .deadLetters), size: try file.size(),
                            validate: { h, body in FrameContent.problem(h, body, maxBody: header.maxRecordSize) })
    }

    private static func collect(_ frame: Frame, into letters: inout [DeadLetter], redriven: inout SequenceRangeSet, path: String) throws {
        do {
            if frame.header.kind == .redriven {
                for r in try TombstoneCodec.decode(frame.body, count: Int(frame.header.count), first: frame.header.first) {
                    redriven.insert(r)
                }
                return
            }
            guard let d = try MessageCodec.decode(frame.body, count: 1, maxBody: Int.max).first else { return }
            var m = d.message
            let own = [reasonHeader, errorHeader, attemptsHeader, deadAtHeader]
            var values: [String: String] = [:]
            for h in m.headers.prefix(own.count) where own.contains(h.name) { values[h.name] = h.value }
            m.headers.removeFirst(values.count)
            let reason = values[reasonHeader] ?? "", error = values[errorHeader] ?? ""
            let attempts = Int(values[attemptsHeader] ?? "") ?? 0
            let deadAt = Int64(values[deadAtHeader] ?? "") ?? 0
            letters.append(DeadLetter(seq: frame.header.first, message: m, reason: reason, lastError: error, attempts: attempts,
                                      deadAtMicros: deadAt, redriven: false))
        } catch {
            throw OutboxError(.corrupt, "frame content is invalid: \(error)", path: path, offset: frame.offset)
        }
    }

    /// Opens (or creates) the file, takes its flock, cuts a torn tail, appends what `frames` returns
    /// at the end, fdatasyncs, and unlocks.
    private static func withLockedFile(
        _ directory: OutboxDirectory, outboxID: OutboxID, maxRecordSize: UInt32, create: Bool,
        _ frames: (OutboxFile, FileIdentity, Int64) throws -> [UInt8]
    ) throws {
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: true) } catch let e as OutboxError where e.errno == ENOENT {
            guard create else { throw OutboxError(.invalidArgument, "there are no dead letters", path: directory.pathOf(fileName)) }
            let header = FileHeader(kind: .deadLetters, outboxID: outboxID, base: 1, maxRecordSize: maxRecordSize,
                                    createdAtMicros: OutboxMessage.micros(Date()))
            // Only the relay (holder of relay.lock) creates the file, so creators never race.
            _ = try directory.createFile(fileName, contents: [header.encode()])
            return try withLockedFile(directory, outboxID: outboxID, maxRecordSize: maxRecordSize, create: false, frames)
        }
        do { try directory.sys.flock(file.fd, LOCK_EX) } catch let e as Errno {
            throw OutboxError.system("flock", errno: e.code, path: file.path)
        }
        defer { try? directory.sys.flock(file.fd, LOCK_UN) }
        let scanner = try scanner(for: file, outboxID: outboxID)
        let end = try scanner.walk(tail: .truncate(Logger(label: "outbox.dead-letters"))) { _ in true }
        let bytes = try frames(file, scanner.identity, end)
        try file.write(bytes, at: end)
        try file.dataSync()
    }
}

import Logging
