import Foundation
import Logging
import Testing
@testable import Outbox
@_exported import OutboxTestSupport

/// A message with every field set, distinguishable by `n`; its id and creation time are set here (not at
/// append), so that what a test wrote can be compared with what it reads.
func sampleMessage(_ n: Int, key: String? = nil, payloadSize: Int? = nil) -> OutboxMessage {
    OutboxMessage(
        id: .v7(), type: "UserRegistered", key: key ?? "user-\(n % 7)",
        headers: [.init("traceparent", "00-\(n)-01"), .init("x-n", "\(n)")],
        payload: payloadSize.map { size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) } }
            ?? Array("{\"user\":\(n)}".utf8), createdAt: Date())
}

/// Stored messages 1, 2, … with these ordering keys (nil: none), as a relay hands a batch to a sink.
func storedBatch(_ keys: [String?]) -> [StoredMessage] {
    keys.enumerated().map { i, key in
        StoredMessage(seq: UInt64(i + 1), message: sampleMessage(i, key: key), segment: "s", offset: 0, compressed: false)
    }
}

func configuration(segmentSize: Int = 64 << 20, sys: (any SystemCalls)? = nil) -> OutboxConfiguration {
    var c = OutboxConfiguration()
    c.segmentSize = segmentSize
    if let sys { c.systemCalls = sys }
    return c
}

/// Copies directory `from` to a new directory `to`.
func copyDirectory(_ from: String, _ to: String) throws {
    try FileManager.default.copyItem(atPath: from, toPath: to)
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
}

func segmentNames(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("segment-") }.sorted()
}

/// A sink that records what it published and can fail messages on demand.
final class RecordingSink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _published: [StoredMessage] = []
    private var _attempts: [UInt64: Int] = [:]
    /// Decides the outcome of one attempt (the attempt number counts from 1).
    let decide: @Sendable (StoredMessage, Int) -> PublishOutcome

    init(decide: @escaping @Sendable (StoredMessage, Int) -> PublishOutcome = { _, _ in .published }) {
        self.decide = decide
    }

    var published: [StoredMessage] {
        lock.lock()
        defer { lock.unlock() }
        return _published
    }

    func attempts(_ seq: UInt64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return _attempts[seq] ?? 0
    }

    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        await publishInOrder(batch) { m in attempt(m) }
    }

    private func attempt(_ m: StoredMessage) -> PublishOutcome {
        lock.withLock {
            _attempts[m.seq, default: 0] += 1
            let outcome = decide(m, _attempts[m.seq]!)
            if outcome == .published { _published.append(m) }
            return outcome
        }
    }
}

func relayConfiguration(sweep: Duration = .seconds(3600), maxAttempts: Int = 10, sys: (any SystemCalls)? = nil) -> OutboxRelayConfiguration {
    var c = OutboxRelayConfiguration()
    c.sweepInterval = sweep
    c.minimumAge = .zero
    c.maxAttempts = maxAttempts
    c.initialBackoff = .milliseconds(1)
    c.maxBackoff = .milliseconds(20)
    c.standbyPollInterval = .milliseconds(50)
    if let sys { c.systemCalls = sys }
    return c
}

/// Runs `relay` until `body` returns, then stops it gracefully (rethrowing what the relay threw).
func running<T>(_ relay: OutboxRelay, _ body: () async throws -> T) async throws -> T {
    let task = Task { try await relay.run() }
    defer { task.cancel() }
    do {
        let result = try await body()
        task.cancel()
        try await task.value
        return result
    } catch {
        task.cancel()
        _ = try? await task.value
        throw error
    }
}

/// Stores `message` as the last message of the outbox at `dir` without `append`'s checks, as versions
/// before them did (so that the tools' handling of such stored text can be tested): a message of the
/// same encoded size is appended, and its frame rewritten in place with `message`, checksummed anew.
func storeUnchecked(_ message: OutboxMessage, in dir: String) async throws {
    var message = message
    message.stamp(now: OutboxMessage.micros(Date()), idTime: Date())
    let clock = OutboxClock.system.now()
    let body = try MessageCodec.encode([message], compressionThreshold: nil, maxBody: 1 << 20, clock: clock)
    var placeholder = OutboxMessage(type: "T", payload: [])
    placeholder.payload = [UInt8](repeating: 0x61, count: body.count - (try MessageCodec.encode([placeholder], compressionThreshold: nil, maxBody: 1 << 20, clock: clock)).count)
    var config = OutboxConfiguration()
    config.compressionThreshold = nil
    let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
    let seq = try await outbox.append(placeholder)
    try await outbox.close()
    guard let stored = try OutboxReader(path: dir).messages().last, stored.seq == seq else { throw OutboxError(.io, "placeholder not found") }
    let path = dir + "/" + stored.segment
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    let header = try FileHeader.decode(Array(try handle.read(upToCount: FileHeader.size) ?? Data()), expecting: .segment)
    let frame = FrameHeader.frame(kind: .messages, first: seq, count: 1, body: body,
                                  identity: FileIdentity(outboxID: header.outboxID, base: header.base), offset: stored.offset,
                                  tag: FrameHeader.writeTag(start: stored.offset, version: header.version))
    try handle.seek(toOffset: UInt64(stored.offset))
    try handle.write(contentsOf: frame)
}

/// Rewrites the outbox file at `path` as a build of format `version` (1 to 3) wrote it: the header's
/// version field, and every frame's flags 0 (no write tags), each frame checksummed anew.
func downgrade(_ path: String, to version: UInt16, kind: FileHeader.Kind) throws {
    var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    let header = try FileHeader.decode(Array(bytes.prefix(FileHeader.size)), expecting: kind)
    var older = header
    older.version = version
    bytes.replaceSubrange(0..<FileHeader.size, with: older.encode())
    var at = FileHeader.size
    while at + FrameHeader.size <= bytes.count {
        let h = bytes.withUnsafeBytes { FrameHeader.peek(UnsafeRawBufferPointer(rebasing: $0[at..<(at + FrameHeader.size)])) }
        guard h.length > 0, let frameKind = FrameKind(rawValue: h.kind), at + FrameHeader.size + Int(h.length) <= bytes.count else { break }
        let body = Array(bytes[(at + FrameHeader.size)..<(at + FrameHeader.size + Int(h.length))])
        let frame = FrameHeader.frame(kind: frameKind, first: h.first, count: h.count, body: body,
                                      identity: FileIdentity(outboxID: header.outboxID, base: header.base), offset: Int64(at),
                                      tag: version >= FrameHeader.taggedVersion ? h.flags : 0)
        bytes.replaceSubrange(at..<(at + frame.count), with: frame)
        at += frame.count
    }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Whether `haystack` holds the UTF-8 bytes of `needle` anywhere.
func bytesContain(_ haystack: [UInt8], _ needle: String) -> Bool {
    let n = Array(needle.utf8)
    guard haystack.count >= n.count else { return false }
    return (0...(haystack.count - n.count)).contains { haystack[$0..<($0 + n.count)].elementsEqual(n) }
}
