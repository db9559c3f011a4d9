import Foundation

/// One active relay, from taking the lock to stopping: a ``RoutePipeline`` per route, each in a task of
/// its own (one sink down stops no other), and the relay's own loop: compaction, the settling pass that
/// finishes for the outbox what every route is done with, and the gauges of the whole outbox.
final class RelaySession: @unchecked Sendable {
    private let env: RelayEnvironment
    private let signals: RelaySignals
    private let reader: OutboxReader
    private let pipelines: [(pipeline: RoutePipeline, availability: SinkAvailability)]
    private let compaction: RelayCompaction
    private let clock = ContinuousClock()
    private var gauges = GaugeSchedule()
    private var lastSweep: ContinuousClock.Instant

    /// One route of a session: its stages' environment, its sink, and how the sink answered at start.
    struct Route {
        let env: RelayEnvironment
        let sink: any OutboxSink
        let availability: SinkAvailability
    }

    init(_ env: RelayEnvironment, routes: [Route], signals: RelaySignals, reader: OutboxReader, watched: Bool) async throws {
        self.env = env
        self.signals = signals
        self.reader = reader
        let compaction = try await RelayCompaction(env)
        let statusFile = RelayStatusWriter(env, routes: routes.map { ($0.env.route ?? "", $0.env.match) })
        // With several routes the log is read once (each lane selection once), from where the route furthest
        // behind begins.
        var shared: [LaneSelection: SharedLogReader] = [:]
        if routes.count >= 2 {
            let from = routes.map { RoutePipeline.start($0.env) }.min() ?? 1
            for lanes in Set(routes.flatMap { LaneSchedule($0.env.configuration.lanes).selections }) {
                shared[lanes] = SharedLogReader(tail: RelayReadSide.tail(env, from: from, lanes: lanes),
                                                capacity: env.configuration.maxInMemory, capacityBytes: env.configuration.maxInMemoryBytes)
            }
        }
        pipelines = routes.enumerated().map { i, r in
            (RoutePipeline(r.env, sink: r.sink, signals: signals.routes[i], relay: signals, reader: reader, watched: watched,
                           compaction: compaction, statusFile: statusFile, shared: shared), r.availability)
        }
        self.compaction = compaction
        lastSweep = clock.now
    }

    /// Runs every route and the relay's loop until the relay is asked to stop (or a route fails: the
    /// others stop too, and the error is thrown).
    func run() async throws {
        try await settle()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (pipeline, availability) in pipelines {
                group.addTask { try await pipeline.run(startingWith: availability) }
            }
            group.addTask { [self] in try await maintain() }
            // The first task to fail stops the others at once (`waitForAll` would wait for every task
            // first, and the relay's loop runs until it is stopped: a route that failed would leave the
            // relay running, publishing nothing, until someone stopped it).
            do {
                while try await group.next() != nil {}
            } catch {
                signals.stopping.set(true)
                signals.wakeAll()
                group.cancelAll()
                throw error
            }
        }
    }

    /// The relay's loop: early compaction when due, and at every sweep the settling pass, compaction and
    /// the tracker's pruning; the gauges every two seconds.
    private func maintain() async throws {
        while !signals.isStopping {
            await refreshGauges()
            if let eager = await compaction.untilEager, eager == .zero { try await compaction.compactEarly() }
            if clock.now - lastSweep >= env.configuration.sweepInterval {
                try await settle()
                try await compaction.sweep()
                env.tracker.prune(env.tombstones.snapshot.finished)
                lastSweep = clock.now
            }
            var wait = env.configuration.sweepInterval - (clock.now - lastSweep)
            if let eager = await compaction.untilEager { wait = min(wait, max(eager, .milliseconds(1))) }
            if let due = gauges.wait(now: clock.now) { wait = min(wait, due) }
            await signals.wake.wait(for: min(wait, .seconds(2)))
        }
    }

    /// Finishes for the outbox what every route that takes it is done with, but the outbox is not (a
    /// restart between a route's tombstone and the outbox's, a route removed, a route that read past
    /// messages it does not take). A pass reads the candidates (``RouteTracker/candidates(besides:)``) in
    /// one walk from the first, at most ``OutboxRelayConfiguration/maxInMemory`` of them; the tracker
    /// weighs each candidate once a session, so that a message waiting on a route in an outage is not read
    /// again at every sweep (that route's finish answers it).
    private func settle() async throws {
        let all = env.tracker.candidates(besides: env.tombstones.snapshot.finished)
        guard let first = all.ranges.first?.lowerBound, let last = all.ranges.last?.upperBound else { return }
        let (reader, limit) = (reader, env.configuration.maxInMemory)
        let (messages, through) = try await env.io.run { () -> ([StoredMessage], UInt64) in
            var out: [StoredMessage] = []
            try reader.forEachMessage(from: first) { m in
                guard m.seq <= last else { return false }
                if all.contains(m.seq) { out.append(m) }
                return out.count < limit
            }
            // Up to the last one read when the pass is full, else every candidate (one the log no longer
            // holds is covered too: it is not looked for again).
            return (out, out.count < limit ? last : out.last?.seq ?? last)
        }
        var beyond = SequenceRangeSet()
        if through < last { beyond.insert(through + 1...last) }
        for (status, seqs) in env.tracker.settle(messages, covered: all.subtracting(beyond)) {
            try await env.tombstones.acknowledge(seqs, as: status)
            if status == .unrouted { env.metrics.unrouted.increment(by: seqs.count) }
        }
    }

    /// Records the gauges of the whole outbox when ``GaugeSchedule`` says they are due. The last
    /// committed number comes from the writer's durable mark: no walk of the active segment every two
    /// seconds (stats finds it so when the mark says nothing).
    private func refreshGauges() async {
        guard gauges.due(now: clock.now) else { return }
        let (reader, directory, durable) = (reader, env.directory, env.writerDurableThrough)
        guard let stats = try? await env.io.run({
            let mark = durable?() ?? DurableMarkFile.read(in: directory, outboxID: reader.outboxID)
            return try reader.stats(lastSeq: mark > 0 ? mark : nil)
        }) else { return }
        env.metrics.pending.record(Int(stats.pending))
        env.metrics.oldestPendingAge.record(stats.oldestPendingAgeSeconds ?? 0)
        env.metrics.diskBytes.record(stats.usedBytes)
    }
}
