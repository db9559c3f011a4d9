import Foundation

/// When the relay compacts the log, and its fallback sweep.
///
/// Compaction runs at every sweep (``OutboxRelayConfiguration/sweepInterval``). With a disk budget,
/// segments are also compacted as soon as they are finished (checked at most every second while
/// publishing, and within a second once idle), so space comes back as the backlog drains. The sweep also
/// puts back into the queue any pending message older than ``OutboxRelayConfiguration/minimumAge`` the
/// relay does not hold (a lost wake-up, a state this relay never read).
final class RelayCompaction {
    private let env: RelayEnvironment
    private let ledger: RelayLedger
    private let reader: OutboxReader
    private let clock = ContinuousClock()
    /// The outbox's disk budget, read at start and at every sweep.
    private var budget: DiskBudget?
    private var lastEager: ContinuousClock.Instant
    /// Publishes finished segments the next early compaction removes.
    private(set) var isEagerDue = false
    private(set) var lastSweep: ContinuousClock.Instant

    init(_ env: RelayEnvironment, ledger: RelayLedger, reader: OutboxReader) async throws {
        self.env = env
        self.ledger = ledger
        self.reader = reader
        let directory = env.directory
        budget = try await env.io.run { try DiskBudget.read(in: directory) }
        lastEager = clock.now
        lastSweep = clock.now
    }

    var isSweepDue: Bool { clock.now - lastSweep >= env.configuration.sweepInterval }
    /// How long until the next sweep is due.
    var untilSweep: Duration { env.configuration.sweepInterval - (clock.now - lastSweep) }

    /// A batch was published: with a budget, its finished segments go now (at most once a second).
    func published() async throws {
        isEagerDue = budget != nil
        try await compactEarly()
    }

    /// How long an idle relay waits before the early compaction that is due; `.zero` when it is due now,
    /// nil when none is.
    var untilEager: Duration? {
        guard isEagerDue else { return nil }
        return max(.zero, .seconds(1) - (clock.now - lastEager))
    }

    /// Compacts now, if the outbox has a budget and the last early compaction was a second ago or more.
    func compactEarly() async throws {
        guard let b = budget, clock.now - lastEager >= .seconds(1) else { return }
        try await ledger.settle()
        lastEager = clock.now
        isEagerDue = false
        let report = try await env.tombstones.compact()
        if !report.removedSegments.isEmpty {
            env.logger.debug("compacted finished segments (the outbox has a disk budget)", metadata: [
                "budget": "\(b.maxBytes)", "removedSegments": "\(report.removedSegments.count)"])
        }
    }

    /// The sweep: compaction, then the stragglers below `tailNext` go into `queue`. `rereadBudget` when
    /// the budget may have changed (an idle sweep; during an outage nothing is compacted early anyway).
    func sweep(queue: inout RelayQueue, tailNext: UInt64, rereadBudget: Bool) async throws {
        if rereadBudget {
            let directory = env.directory
            budget = try await env.io.run { try DiskBudget.read(in: directory) }
        }
        defer { lastSweep = clock.now }
        let report = try await env.tombstones.compact()
        if !report.removedSegments.isEmpty {
            env.logger.debug("sweep compacted", metadata: ["removedSegments": "\(report.removedSegments.count)"])
        }
        let snapshot = env.tombstones.snapshot
        let room = env.configuration.maxInMemory - queue.count
        guard room > 0 else { return }
        let held = queue.held
        let cutoff = Date().addingTimeInterval(-env.configuration.minimumAge.seconds)
        let reader = reader
        let stragglers = try await env.io.run {
            try reader.pendingMessages(limit: room, tombstones: snapshot)
                .filter { !held.contains($0.seq) && $0.seq < tailNext && $0.message.createdAt <= cutoff }
        }
        if !stragglers.isEmpty {
            env.logger.notice("sweep found pending messages the relay did not hold", metadata: ["count": "\(stragglers.count)"])
            queue.add(stragglers)
        }
    }
}
