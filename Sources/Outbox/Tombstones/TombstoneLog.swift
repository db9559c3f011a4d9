import Foundation
import Logging

/// The relay's side of an outbox: records which messages are finished and compacts the log.
///
/// **Durable when:** ``acknowledge(_:as:route:)`` returns only after the tombstone frame was written and
/// `fdatasync` returned; concurrent acknowledgements are group-committed on a dedicated thread.
///
/// **Compaction** removes a sealed segment only once every message in it has a durable tombstone, and
/// never drops a tombstone, so a published message never comes back. Only one process at a time can
/// hold the tombstone log (an `flock` on `relay.lock`).
public final class TombstoneLog: Sendable {
    public let path: String
    public let outboxID: OutboxID
    /// The outbox's max record size.
    public let maxRecordSize: UInt32
    private let lock: FileLock
    private let committer: GroupCommitter<TombstoneWriter.Request>
    private let writer: UnsafeTransfer<TombstoneWriter>
    private let shared: Shared<TombstoneSnapshot>

    /// Opens the tombstone log of the outbox at `path` on a dedicated thread.
    public static func open(at path: String, checkpointBytes: Int = 1 << 20,
                            logger: Logger = Logger(label: "outbox.tombstones")) async throws -> TombstoneLog {
        try await onDedicatedThread("outbox-tombstones-open") {
            try TombstoneLog(openingAt: path, checkpointBytes: checkpointBytes, logger: logger)
        }
    }

    /// Opens the tombstone log from synchronous code. Throws ``OutboxError/Code/locked`` naming the pid of
    /// the process that holds it.
    public convenience init(openingAt path: String, checkpointBytes: Int = 1 << 20, logger: Logger = Logger(label: "outbox.tombstones")) throws {
        try self.init(openingAt: path, checkpointBytes: checkpointBytes, logger: logger, sys: LinuxSystemCalls())
    }

    package convenience init(openingAt path: String, checkpointBytes: Int, logger: Logger, sys: any SystemCalls,
                             onDamage: DamagePolicy = .refuse) throws {
        // The outbox is found before the lock is taken, so that no relay.lock is left in a directory that is no outbox.
        try self.init(OpenedOutbox(path: path, sys: sys), checkpointBytes: checkpointBytes, logger: logger, onDamage: onDamage)
    }

    /// Opens the tombstone log of an outbox opened already, from synchronous code. Throws
    /// ``OutboxError/Code/locked`` naming the pid of the process that holds it.
    public convenience init(_ outbox: OpenedOutbox, checkpointBytes: Int = 1 << 20, logger: Logger = Logger(label: "outbox.tombstones")) throws {
        try self.init(outbox, checkpointBytes: checkpointBytes, logger: logger, onDamage: .refuse)
    }

    package init(_ outbox: OpenedOutbox, checkpointBytes: Int, logger: Logger, onDamage: DamagePolicy) throws {
        let directory = outbox.directory
        let lock = try FileLock.acquire(FileLock.relayLockName, in: directory, role: "relaying")
        let shared = Shared(TombstoneSnapshot())
        let writer = try TombstoneWriter.open(directory: directory, outboxID: outbox.id, logger: logger, checkpointBytes: Int64(checkpointBytes),
                                              shared: shared, onDamage: onDamage)
        self.path = outbox.path
        self.outboxID = writer.outboxID
        self.maxRecordSize = writer.maxRecordSize
        self.lock = lock
        self.shared = shared
        self.writer = UnsafeTransfer(writer)
        committer = GroupCommitter(name: "outbox-tombstones", maxBatchWeight: 1 << 20, weight: { $0.weight },
                                   process: { writer.process($0) })
    }

    /// Without ``close()``, the commit thread is still stopped (after finishing queued commits) when the
    /// object goes away; the lock is released with the file.
    deinit { committer.stop() }

    /// The finished sequence numbers as of the last durable acknowledgement.
    public var snapshot: TombstoneSnapshot { shared.get() }

    /// Records `seqs` as finished (published; dead-lettered with `.dead`; expired with `.expired`; matched
    /// no route with `.unrouted`), for the whole outbox, or for one route of the relay when `route` names
    /// it (FORMAT.md §5c: a message is finished for the outbox once every route that matched it is done);
    /// returns once durable.
    public func acknowledge<S: Sequence>(_ seqs: S, as status: MessageStatus = .published, route: String? = nil) async throws
        where S.Element == UInt64 {
        try await record(try acknowledgement(seqs, status, route: route))
    }

    /// ``acknowledge(_:as:route:)`` from synchronous code, blocking the calling thread until durable.
    public func acknowledgeBlocking<S: Sequence>(_ seqs: S, as status: MessageStatus = .published, route: String? = nil) throws
        where S.Element == UInt64 {
        let job = try acknowledgement(seqs, status, route: route)
        let box = ResultBox<Void>()
        submit(job) { box.set($0) }
        try box.wait().get()
    }

    /// Records that the relay has a route named `route` serving the numbers from `start` on (1: every
    /// message still pending; the next number: only what is appended from now on); returns once durable.
    public func declareRoute(_ route: String, startingAt start: UInt64 = 1) async throws {
        if let problem = RouteTombstoneCodec.nameProblem(route) { throw OutboxError(.invalidArgument, problem) }
        try await record(.routeStart(route, max(1, start)))
    }

    /// Lets go of what routes the relay no longer has finished: their progress leaves the snapshot now
    /// and the tombstone file at its next checkpoint (what the outbox finished stays).
    public func forgetRoutes(_ routes: [String]) async throws {
        guard !routes.isEmpty else { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            if !committer.submit(.forget(routes: routes, { c.resume(with: $0.mapError { $0 as any Error }) })) {
                c.resume(throwing: OutboxError(.closed, "the tombstone log is closed", path: path))
            }
        }
    }

    private func record(_ job: TombstoneRecord?) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            submit(job) { c.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    /// Removes fully finished sealed segments and checkpoints the tombstone file when it grew (or when
    /// `forceCheckpoint`). Runs on the commit thread, ordered with acknowledgements.
    @discardableResult
    public func compact(forceCheckpoint: Bool = false) async throws -> CompactionReport {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<CompactionReport, any Error>) in
            submitCompaction(forceCheckpoint) { c.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    /// ``compact(forceCheckpoint:)`` from synchronous code, blocking the calling thread until done.
    @discardableResult
    public func compactBlocking(forceCheckpoint: Bool = false) throws -> CompactionReport {
        let box = ResultBox<CompactionReport>()
        submitCompaction(forceCheckpoint) { box.set($0) }
        return try box.wait().get()
    }

    /// The acknowledgement job for `seqs`, or nil when there is nothing to record.
    private func acknowledgement<S: Sequence>(_ seqs: S, _ status: MessageStatus, route: String?) throws -> TombstoneRecord?
        where S.Element == UInt64 {
        let set = SequenceRangeSet(seqs)
        guard !set.isEmpty else { return nil }
        let kind: FrameKind
        switch status {
        case .published: kind = .published
        case .dead: kind = .dead
        case .expired: kind = .expired
        case .unrouted where route == nil: kind = .unrouted
        case .pending, .dropped, .unrouted:
            throw OutboxError(.invalidArgument, "acknowledge takes .published, .dead, .expired, or .unrouted for the whole outbox (only the writer drops)")
        }
        guard let route else { return .ranges(set, kind) }
        if let problem = RouteTombstoneCodec.nameProblem(route) { throw OutboxError(.invalidArgument, problem) }
        return .route(route, set, status: kind)
    }

    private func submit(_ job: TombstoneRecord?, _ done: @escaping @Sendable (Result<Void, OutboxError>) -> Void) {
        guard let job else { return done(.success(())) }
        if !committer.submit(.record(job, done)) {
            done(.failure(OutboxError(.closed, "the tombstone log is closed", path: path)))
        }
    }

    private func submitCompaction(_ force: Bool, _ done: @escaping @Sendable (Result<CompactionReport, OutboxError>) -> Void) {
        if !committer.submit(.compact(forceCheckpoint: force, done)) {
            done(.failure(OutboxError(.closed, "the tombstone log is closed", path: path)))
        }
    }

    /// Finishes queued work, fsyncs and releases the relay lock.
    public func close() async throws {
        try await onDedicatedThread("outbox-tombstones-close") { [self] in try closeBlocking() }
    }

    /// ``close()`` from synchronous code.
    public func closeBlocking() throws {
        committer.stop()
        defer { lock.release() }
        try writer.value.syncForClose()
    }
}
