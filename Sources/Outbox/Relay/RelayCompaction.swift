import Foundation

/// When the relay compacts the log: at every sweep (``OutboxRelayConfiguration/sweepInterval``) and,
/// with a disk budget, as soon as published messages finish segments (at most once a second while
/// publishing, and within a second once idle), so space comes back as the backlog drains. Shared by the
/// relay's routes; compaction looks only at what the whole outbox finished.
actor RelayCompaction {
    private let env: RelayEnvironment
    private let clock = ContinuousClock()
    /// The outbox's disk budget, read at start and at every sweep.
    private var budget: DiskBudget?
    private var lastEager: ContinuousClock.Instant
    /// Publishes finished segments the next early compaction removes.
    private var isEagerDue = false

    init(_ env: RelayEnvironment) async throws {
        self.env = env
        let directory = env.directory
        budget = try await env.io.run { try DiskBudget.read(in: directory) }
        lastEager = clock.now
    }

    /// A batch was published: with a budget, its finished segments go now (at most once a second).
    func published() async throws {
        isEagerDue = budget != nil
        try await compactEarly()
    }

    /// Whether a publish now would compact at once (a budget, and a second since the last early
    /// compaction): the route settles its tombstone commits first, so that compaction sees them.
    var eagerReady: Bool { budget != nil && clock.now - lastEager >= .seconds(1) }

    /// How long until the early compaction that is due; `.zero` when it is due now, nil when none is.
    var untilEager: Duration? {
        guard isEagerDue else { return nil }
        return max(.zero, .seconds(1) - (clock.now - lastEager))
    }

    /// Compacts now, if the outbox has a budget and the last early compaction was a second ago or more.
    func compactEarly() async throws {
        guard let b = budget, clock.now - lastEager >= .seconds(1) else { return }
        lastEager = clock.now
        isEagerDue = false
        let report = try await env.tombstones.compact()
        if !report.removedSegments.isEmpty {
            env.logger.debug("compacted finished segments (the outbox has a disk budget)", metadata: [
                "budget": "\(b.maxBytes)", "removedSegments": "\(report.removedSegments.count)"])
        }
    }

    /// The sweep's compaction; the budget is read again first (it may have changed).
    func sweep() async throws {
        let directory = env.directory
        budget = try await env.io.run { try DiskBudget.read(in: directory) }
        let report = try await env.tombstones.compact()
        if !report.removedSegments.isEmpty {
            env.logger.debug("sweep compacted", metadata: ["removedSegments": "\(report.removedSegments.count)"])
        }
    }
}
