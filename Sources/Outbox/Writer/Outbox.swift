import Foundation
import Logging

/// The writer side of an outbox: appends messages durably.
///
/// ```swift
/// let outbox = try await Outbox.open(at: "/var/lib/app/outbox", logger: logger)
/// let seq = try await outbox.append(OutboxMessage(type: "UserRegistered", key: userID, payload: json))
/// ```
///
/// **Durable when:** `append` returns only after the commit's frame was written and `fdatasync`
/// returned; from then on the messages survive a crash of the process or the machine. A commit is atomic:
/// after a crash it reads back whole or not at all, and an unacknowledged commit may or may not be there.
///
/// **Ordered how:** sequence numbers are dense, start at 1, are assigned in commit order and never
/// reused; the messages of one call get consecutive numbers.
///
/// Concurrent callers are group-committed: one write and one `fdatasync` on a dedicated thread serve every
/// caller waiting at that moment. A failed `fdatasync` stops the outbox (``OutboxError/Code/failedStop``)
/// until it is reopened; a full disk (``OutboxError/Code/noSpace``) fails only the commits it hit.
///
/// The trace context current at `append` (swift-distributed-tracing) is added to each message's headers,
/// and the relay links its publishing span to it.
///
/// Only one process can hold an outbox open for writing (an `flock` on `writer.lock`); readers
/// (``OutboxReader``) need no lock.
public final class Outbox: Sendable {
    /// The outbox directory.
    public let path: String
    /// The outbox's identity (the same in every file header).
    public let id: OutboxID
    /// The largest commit body, in bytes, this outbox accepts.
    public let maxRecordSize: Int
    /// The outbox as this writer opened it: readers and a relay in this process can be built from it
    /// (``OutboxReader/init(_:)``, ``OutboxRelay/init(outbox:sink:configuration:writer:logger:)``).
    public let opened: OpenedOutbox

    private let configuration: OutboxConfiguration
    private let lock: FileLock
    private let committer: GroupCommitter<SegmentWriter.Request>
    private let writer: UnsafeTransfer<SegmentWriter>
    private let directory: OutboxDirectory
    private let logger: Logger
    private let durability: WriterDurability
    /// Where appenders seal their commits before queueing them (an encrypted outbox).
    private let sealPlan: SealPlan
    /// The relays of this process given this outbox, while they run: run as a `Service`, the outbox
    /// closes after they finished.
    package let relays = ActiveUsers()

    /// Opens (or creates, per ``OutboxConfiguration/createIfMissing``) the outbox at `path` for writing,
    /// running recovery on a dedicated thread.
    ///
    /// Throws ``OutboxError/Code/locked`` naming the holder's pid if another process has it open for
    /// writing, and ``OutboxError/Code/corrupt`` naming the file and offset for damage that recovery
    /// must not repair (only a torn tail of the active segment is truncated, with a warning).
    public static func open(at path: String, configuration: OutboxConfiguration = .init(),
                            logger: Logger = Logger(label: "outbox")) async throws -> Outbox {
        try await onDedicatedThread("outbox-open") { try Outbox(openingAt: path, configuration: configuration, logger: logger) }
    }

    /// Opens the outbox from synchronous code, blocking the calling thread (see ``open(at:configuration:logger:)``).
    public init(openingAt path: String, configuration: OutboxConfiguration = .init(), logger: Logger = Logger(label: "outbox")) throws {
        let configuration = try configuration.validated()
        let directory = try OutboxDirectory.open(path, create: configuration.createIfMissing, sys: configuration.systemCalls,
                                                 keys: configuration.keys)
        let lock = try FileLock.acquire(FileLock.writerLockName, in: directory, role: "writing")
        let durability = WriterDurability()
        let writer = try SegmentWriter.recover(directory: directory, configuration: configuration, logger: logger, listener: durability)
        // Numbers are never given twice: a log that ends below what the durable mark, the tombstones or
        // the dropped ranges name lost messages (FORMAT.md §8).
        let last = writer.nextSeq - 1
        if let claim = NumberEvidence.above(last, in: directory, outboxID: writer.outboxID) {
            let error = claim.error(last: last, segment: directory.pathOf(writer.activeName), offset: writer.active.writeOffset)
            guard configuration.onDamage == .quarantine else { throw error }
            let lost = (last + 1)...claim.seq
            try writer.markLost(lost, note: "missing from the log; \(claim.source) names them")
            SegmentSalvage.report(quarantined: writer.activeName, because: error,
                                  action: "gave sequence numbers \(lost) to a hole: they are lost, and never given again",
                                  lost: { var set = SequenceRangeSet(); set.insert(lost); return set }(), in: directory, logger: logger)
        }
        // An append without the key never writes in clear into an encrypted outbox (FORMAT.md §10).
        if writer.active.encrypted, configuration.keys == nil {
            throw OutboxError(.missingKey, "the outbox is encrypted and no key was given (OutboxConfiguration.keys, --key-file)",
                              path: directory.pathOf(writer.activeName))
        }
        // Keys that do not include the one the active segment was last written with are most likely the
        // wrong ones (a rotation keeps the old key after the new one): refused before anything is written.
        if let id = writer.active.lastKey, let keys = configuration.keys, keys.key(id) == nil {
            throw OutboxError(.wrongKey, "the active segment was written with key \(id), which is not among the keys given (\(keys)); "
                              + "to rotate, put the new key first and keep \(id) after it", path: directory.pathOf(writer.activeName))
        }
        try writer.chooseKey()
        writer.openPlan()
        sealPlan = writer.sealPlan
        writer.startMarking()
        self.path = path
        self.id = writer.outboxID
        self.opened = OpenedOutbox(directory: directory, id: writer.outboxID)
        self.maxRecordSize = Int(writer.maxRecordSize)
        self.configuration = configuration
        self.lock = lock
        self.directory = directory
        self.logger = logger
        self.writer = UnsafeTransfer(writer)
        self.durability = durability
        committer = GroupCommitter<SegmentWriter.Request>(
            name: "outbox-commit", maxBatchWeight: configuration.maxBatchBytes, waitsForReleasedCallers: true,
            weight: { $0.body.count + FrameHeader.size }, releasing: { writer.process($0, completing: $1) })
    }

    /// Without ``close()``, the commit thread is still stopped (after finishing queued commits) when the
    /// object goes away; the lock is released with the file.
    deinit { committer.stop() }

    /// Appends one message; returns its sequence number once it is durable.
    @discardableResult
    public func append(_ message: OutboxMessage) async throws -> UInt64 {
        try await append(contentsOf: [message]).lowerBound
    }

    /// Appends messages as one atomic commit; returns their sequence numbers (consecutive) once durable.
    ///
    /// The encoded commit must fit in ``maxRecordSize``: a larger one throws
    /// ``OutboxError/Code/recordTooLarge`` before anything is written.
    @discardableResult
    public func append(contentsOf messages: [OutboxMessage]) async throws -> ClosedRange<UInt64> {
        let commit = try encode(messages)
        return try await withCheckedThrowingContinuation { continuation in
            submit(commit, messages.count) { continuation.resume(with: $0) }
        }
    }

    /// Appends a typed event (``OutboxEvent``) as one message, encoded by the outbox's
    /// ``OutboxConfiguration/eventCoder`` with its event type and schema version; returns its sequence
    /// number once it is durable. `key` (else the event's ``OutboxEvent/outboxKey``), `headers`, `lane` and
    /// `id` are the message's (``OutboxMessage``). An event the coder cannot encode throws
    /// ``OutboxError/Code/eventEncoding`` and nothing is appended.
    @discardableResult
    public func append<Event: OutboxEvent>(_ event: Event, key: String? = nil, headers: [OutboxMessage.Header] = [],
                                           lane: OutboxLane = .normal, id: MessageID? = nil) async throws -> UInt64 {
        try await append(OutboxMessage(event, key: key, headers: headers, id: id, lane: lane, coder: configuration.eventCoder))
    }

    /// Appends typed events as one atomic commit (each with its own ``OutboxEvent/outboxKey``, and
    /// `headers` and `lane`); returns their sequence numbers once durable. If one cannot be encoded,
    /// nothing is appended (``OutboxError/Code/eventEncoding``).
    @discardableResult
    public func append<Event: OutboxEvent>(contentsOf events: [Event], headers: [OutboxMessage.Header] = [],
                                           lane: OutboxLane = .normal) async throws -> ClosedRange<UInt64> {
        let coder = configuration.eventCoder
        return try await append(contentsOf: events.map { try OutboxMessage($0, headers: headers, lane: lane, coder: coder) })
    }

    /// Appends one message from synchronous code, blocking the calling thread until it is durable.
    @discardableResult
    public func appendBlocking(_ message: OutboxMessage) throws -> UInt64 {
        try appendBlocking(contentsOf: [message]).lowerBound
    }

    /// Appends messages as one atomic commit from synchronous code, blocking until durable.
    @discardableResult
    public func appendBlocking(contentsOf messages: [OutboxMessage]) throws -> ClosedRange<UInt64> {
        let commit = try encode(messages)
        let box = ResultBox<ClosedRange<UInt64>>()
        submit(commit, messages.count) { box.set($0) }
        return try box.wait().get()
    }

    /// Stamps, checks and encodes one commit: messages without an id or a creation time get a new UUIDv7
    /// and the time of this call; a message the tool would refuse (``OutboxMessage/problem``), and a
    /// commit holding one caller-set id twice, throw ``OutboxError/Code/invalidArgument`` before
    /// anything is written.
    /// A message in lane `normal` takes the lane of the first ``OutboxConfiguration/laneRules`` rule it matches.
    /// A commit whose messages are not all in lane `normal` is a frame of kind 14 with its lanes
    /// (FORMAT.md §4b); at most 255 lanes in one commit.
    private func encode(_ messages: [OutboxMessage]) throws -> Commit {
        var messages = messages
        // One reading for the commit's clock (FORMAT.md §4c) and the creation time of its messages.
        let clock = configuration.clock.now()
        let now = clock.wall
        let micros = clock.wallMicros
        var callerIDs = 0
        for i in messages.indices {
            if messages[i].id.isAssigned { callerIDs += 1 }
            messages[i].stamp(now: micros, idTime: now)
            if !configuration.laneRules.isEmpty { messages[i].lane = LaneRule.lane(of: messages[i], under: configuration.laneRules) }
            if let problem = messages[i].problem {
                throw OutboxError(.invalidArgument, "message \(i + 1) of \(messages.count): \(problem)", path: path)
            }
        }
        if callerIDs > 1 {
            var seen = Set<MessageID>(minimumCapacity: messages.count)
            for (i, m) in messages.enumerated() where !seen.insert(m.id).inserted {
                throw OutboxError(.invalidArgument,
                                  "message \(i + 1) of \(messages.count) repeats the id \(m.id) of an earlier message of the same commit", path: path)
            }
        }
        TraceHeaders.inject(into: &messages)
        let threshold = configuration.compressionThreshold
        // Encrypted, the records go into an envelope (FORMAT.md §10): the checksum is of that, taken when
        // the frame is laid out, and the envelope counts against the max record size.
        let encrypted = configuration.keys != nil
        let envelope = encrypted ? Envelope.overhead : 0
        guard messages.contains(where: { $0.lane != .normal }) else {
            let body = try MessageCodec.encode(messages, compressionThreshold: threshold, maxBody: maxRecordSize - envelope, clock: clock)
            return Commit(body: body, crc: encrypted ? 0 : CRC32.of(body), kind: .messages, lanes: LaneSummary.normalBit)
        }
        let lanes = LaneSummary.lanes(of: messages)
        guard lanes.count <= 255 else { throw OutboxError(.invalidArgument, "a commit spans \(lanes.count) lanes, more than 255", path: path) }
        let summary = LaneSummary.encode(lanes)
        let body = try MessageCodec.encode(messages, compressionThreshold: threshold, maxBody: maxRecordSize - envelope,
                                           lanes: .table(lanes.map { OutboxLane($0) }), prefix: summary, clock: clock)
        return Commit(body: body, crc: encrypted ? 0 : CRC32.of(body), kind: .laneMessages, lanes: LaneSummary.filter(kind: .laneMessages, body: body),
                      prefixLength: summary.count)
    }

    /// One encoded commit: its frame's body, the body's CRC, its kind and its lane filter.
    private struct Commit {
        var body: [UInt8]
        var crc: UInt32
        var kind: FrameKind
        var lanes: UInt64
        var prefixLength = 0
    }

    private func submit(_ commit: Commit, _ count: Int,
                        _ completion: @escaping @Sendable (Result<ClosedRange<UInt64>, OutboxError>) -> Void) {
        var request = SegmentWriter.Request(body: commit.body, bodyCRC: commit.crc, count: UInt32(count), kind: commit.kind,
                                            lanes: commit.lanes, prefixLength: commit.prefixLength, completion: completion)
        // Encrypted, the commit is sealed here, on the caller's thread, at the place the writer expects it
        // (its group commit then only lays it out), when the plan is open.
        if configuration.keys != nil {
            request.presealed = sealPlan.seal(commit.body, prefixLength: commit.prefixLength, kind: commit.kind, count: UInt32(count))
        }
        if !committer.submit(request) {
            completion(.failure(OutboxError(.closed, "the outbox is closed", path: path)))
        }
    }

    /// The plan appenders seal by (for tests).
    var sealPlanForTests: SealPlan { sealPlan }

    /// How many commits the writer wrote as their appenders sealed them (for tests).
    var sealedByAppenders: Int { writer.value.sealedByAppenders }

    /// The last sequence number this writer made durable (0 before its first commit): an in-process
    /// relay needs no `fdatasync` of its own for messages at or below it.
    var durableThrough: UInt64 { durability.mark }

    /// Calls `observer` on the commit thread with the last durable sequence number after every commit
    /// (used to wake an in-process relay). It must return quickly.
    func onDurable(_ observer: @escaping @Sendable (UInt64) -> Void) {
        durability.observe(observer)
    }

    /// Finishes every commit already submitted, fsyncs the active segment and releases the writer lock.
    /// Appends after `close` throw ``OutboxError/Code/closed``.
    public func close() async throws {
        try await onDedicatedThread("outbox-close") { [self] in try closeBlocking() }
    }

    /// ``close()`` from synchronous code.
    public func closeBlocking() throws {
        committer.stop()
        defer { lock.release() }
        try writer.value.syncForClose()
    }
}
