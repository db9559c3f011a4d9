import Logging

/// What every stage of an active relay shares: the opened outbox (directory, identity, tombstones), the
/// thread its blocking calls run on, and where it reports. Made once when the relay takes the lock.
struct RelayEnvironment: Sendable {
    let directory: OutboxDirectory
    let outboxID: OutboxID
    let tombstones: TombstoneLog
    /// Every blocking call of the session runs here, never on Swift's cooperative pool.
    let io: BlockingExecutor
    let configuration: OutboxRelayConfiguration
    let logger: Logger
    let metrics: RelayMetrics
    /// The in-process writer's durable mark (``Outbox/durableThrough``), if the writer is in this process.
    let writerDurableThrough: (@Sendable () -> UInt64)?

    /// The largest record the tombstone log (and so the dead-letter file) takes.
    var maxRecordSize: UInt32 { tombstones.maxRecordSize }
}
