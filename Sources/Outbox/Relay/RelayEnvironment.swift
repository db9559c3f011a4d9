import Logging

/// What every stage of an active relay shares: the opened outbox (directory, identity, tombstones), the
/// thread its blocking calls run on, where it reports, and which route the stage serves. Made once when
/// the relay takes the lock, then once per route (``route(_:match:configuration:metrics:)``).
struct RelayEnvironment: Sendable {
    let directory: OutboxDirectory
    let outboxID: OutboxID
    let tombstones: TombstoneLog
    /// Every blocking call of the session runs here, never on Swift's cooperative pool.
    let io: BlockingExecutor
    /// The route's configuration (the relay's, for what is not a route's).
    let configuration: OutboxRelayConfiguration
    let logger: Logger
    let metrics: RelayMetrics
    /// The in-process writer's durable mark (``Outbox/durableThrough``), if the writer is in this process.
    let writerDurableThrough: (@Sendable () -> UInt64)?
    /// When the outbox is finished with a message, for every route.
    let tracker: RouteTracker
    /// The route the stage serves (nil: the relay itself).
    var route: String? = nil
    /// Which messages the route takes.
    var match = RouteMatch.all

    /// The largest record the tombstone log (and so the dead-letter file) takes.
    var maxRecordSize: UInt32 { tombstones.maxRecordSize }

    /// Whether the route keeps progress of its own in the tombstone log (the relay has several routes).
    var recordsRoute: Bool { route != nil && tracker.recordsRoutes }

    /// The environment of one route's stages.
    func route(_ name: String, match: RouteMatch, configuration: OutboxRelayConfiguration, metrics: RelayMetrics) -> RelayEnvironment {
        var logger = self.logger
        if tracker.recordsRoutes { logger[metadataKey: "route"] = "\(name)" }
        var env = RelayEnvironment(directory: directory, outboxID: outboxID, tombstones: tombstones, io: io, configuration: configuration,
                                   logger: logger, metrics: metrics, writerDurableThrough: writerDurableThrough, tracker: tracker)
        env.route = name
        env.match = match
        return env
    }

    /// What the route has no more to do with, as the tombstone log says now (what a route of that name
    /// finished when the relay had several counts too).
    var finished: SequenceRangeSet {
        let snapshot = tombstones.snapshot
        guard let route, !snapshot.routes.isEmpty else { return snapshot.finished }
        return snapshot.finished(forRoute: route)
    }

    /// Records that the route is done with `messages` (`status`: published, dead or expired): durably
    /// for the route when the relay has several, and for the outbox when every route that takes a
    /// message is done with it.
    func finish<M: FinishedMessage>(_ messages: [M], as status: MessageStatus) async throws {
        // One route: its progress is the outbox's, with nothing to decide per message.
        guard tracker.recordsRoutes else { return try await tombstones.acknowledge(messages.map(\.seq), as: status) }
        guard !messages.isEmpty else { return }
        if recordsRoute, let route { try await tombstones.acknowledge(messages.map(\.seq), as: status, route: route) }
        for (outcome, seqs) in tracker.finished(messages, status: status, route: route ?? "") {
            try await tombstones.acknowledge(seqs, as: outcome)
        }
    }
}
