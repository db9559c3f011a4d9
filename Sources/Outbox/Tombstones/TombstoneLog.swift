import Foundation
import Logging

/// The relay's side of an outbox: records which messages are finished and compacts the log.
///
/// **Durable when:** ``acknowledge(_:as:)`` returns only after the tombstone frame was written and
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

    init(openingAt path: String, checkpointBytes: Int, logger: Logger, sys: any SystemCalls) throws {
        let directory = try OutboxDirectory.open(path, create: false, sys: sys)
        let lock = try FileLock.acquire(FileLock.relayLockName, in: directory, role: "relaying")
        let shared = Shared(TombstoneSnapshot())
        let writer = try TombstoneWriter.open(directory: directory, logger: logger, checkpointBytes: Int64(checkpointBytes), shared: shared)
        self.path = path
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

    /// Records `seqs` as finished (published, or dead-lettered with `.dead`); returns once durable.
    public func acknowledge<S: Sequence>(_ seqs: S, as status: MessageStatus = .published) async throws where S.Element == UInt64 {
        let set = SequenceRangeSet(seqs)
        guard !set.isEmpty else { return }
        let kind: FrameKind
        switch status {
        case .published: kind = .published
        case .dead: kind = .dead
        case .pending: throw OutboxError(.invalidArgument, "acknowledge takes .published or .dead")
        }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let ok = committer.submit(.acknowledge(set, kind, { r in c.resume(with: r.mapError { $0 as any Error }) }))
            if !ok { c.resume(throwing: OutboxError(.closed, "the tombstone log is closed", path: path)) }
        }
    }

    /// Removes fully finished sealed segments and checkpoints the tombstone file when it grew (or when
    /// `forceCheckpoint`). Runs on the commit thread, ordered with acknowledgements.
    @discardableResult
    public func compact(forceCheckpoint: Bool = false) async throws -> CompactionReport {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<CompactionReport, any Error>) in
            let ok = committer.submit(.compact(forceCheckpoint: forceCheckpoint, { r in c.resume(with: r.mapError { $0 as any Error }) }))
            if !ok { c.resume(throwing: OutboxError(.closed, "the tombstone log is closed", path: path)) }
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
