import Foundation

/// One route's loop, from taking the lock to stopping: read what was appended into the queue, publish
/// the next batch, record its outcomes, and wait out outages; sweep for stragglers when idle.
///
/// The stages each have one job: ``RelayReadSide`` reads the log at the route's own position,
/// ``RelayQueue`` orders and retries, ``RelayPublisher`` hands a batch to the sink, ``RelayLedger``
/// records outcomes (tombstones, dead letters, redrives), ``OutageController`` probes an unavailable
/// sink. Compaction (``RelayCompaction``) is the relay's, shared by its routes. Only the route's own task
/// touches a pipeline.
final class RoutePipeline: @unchecked Sendable {
    private let env: RelayEnvironment
    private let signals: RouteSignals
    private let relay: RelaySignals
    private let reader: OutboxReader
    private let readSide: RelayReadSide
    private var queue: RelayQueue
    private let publisher: RelayPublisher
    private let ledger: RelayLedger
    private let outages: OutageController
    private let compaction: RelayCompaction
    private let clock = ContinuousClock()
    /// Whether the messages appended meanwhile were read while the last batch was out.
    private var readAhead = false
    private var lastSweep: ContinuousClock.Instant
    /// The route's uplink cap and budget, if it has either.
    private let uplink: RouteUplink?

    /// - Parameter watched: whether the directory watch reports changes (``RouteSignals/takeChanges()``):
    ///   the dead-letter file and `dropped.log` are then looked at only when it says they changed (or at
    ///   a sweep), not at every read.
    init(_ env: RelayEnvironment, sink: any OutboxSink, signals: RouteSignals, relay: RelaySignals, reader: OutboxReader, watched: Bool,
         compaction: RelayCompaction, statusFile: RelayStatusWriter, shared: [LaneSelection: SharedLogReader]) {
        self.env = env
        self.signals = signals
        self.relay = relay
        self.reader = reader
        readSide = RelayReadSide(env, from: Self.start(env), changes: watched ? signals : nil, shared: shared)
        queue = RelayQueue(configuration: env.configuration)
        publisher = RelayPublisher(sink: sink, metrics: env.metrics, logger: env.logger)
        ledger = RelayLedger(env)
        outages = OutageController(env, sink: sink, signals: signals, relay: relay, reader: reader, statusFile: statusFile)
        self.compaction = compaction
        lastSweep = clock.now
        uplink = RouteUplink(env, framing: sink.framingBytes, now: ContinuousClock.now)
    }

    /// The first number the route reads: the first it still needs.
    static func start(_ env: RelayEnvironment) -> UInt64 {
        env.finished.firstMissing(from: env.route.map { env.tracker.start(of: $0) } ?? 1)
    }

    private var isSweepDue: Bool { clock.now - lastSweep >= env.configuration.sweepInterval }
    private var untilSweep: Duration { env.configuration.sweepInterval - (clock.now - lastSweep) }

    /// Runs until the relay is asked to stop; every tombstone is committed when it returns.
    func run(startingWith availability: SinkAvailability) async throws {
        await outages.start(availability)
        while !relay.isStopping {
            if readAhead { readAhead = false } else { try await readNew() }
            await outages.checkConnectionLost()
            if outages.isHolding {
                if outages.takeProbeDue() {
                    // Deadlines still apply while nothing can be published.
                    try await ledger.retire(queue.expire(now: env.configuration.clock.now()))
                    await outages.probeNow()
                }
                await outages.remind(queued: queue.count)
                if outages.isHolding {
                    try await holdDuringOutage()
                    continue
                }
            }
            // Under an uplink cap or budget, the batch waits for its worth, and keeps to it.
            var wire: (limit: Int, framing: Int, strict: Bool)?
            var pastBudget: Int?
            if let uplink, queue.count > 0 {
                switch uplink.decide(queued: queue.heldBytes, now: clock.now, wall: Date()) {
                case .wait(let d):
                    try await waitForUplink(d)
                    continue
                case .go(let limit, let strict, let past):
                    wire = (limit, uplink.framing, strict)
                    pastBudget = past
                }
            }
            var batch = queue.nextBatch(now: clock.now, wire: wire)
            if batch.heldBack, let pastBudget, let uplink, let critical = queue.lanes.index(of: .critical) {
                // The budget left holds no more: past it, lane critical alone goes (critical-only).
                batch = queue.nextBatch(now: clock.now, wire: (pastBudget, uplink.framing, false), only: critical)
                if batch.isEmpty { batch.heldBack = true }
            }
            if batch.heldBack, let uplink {
                try await waitForUplink(uplink.heldBack(wall: Date()))
                continue
            }
            // A message past its deadline is never published.
            let expired = queue.takeExpired(in: batch, now: env.configuration.clock.now())
            if !expired.isEmpty {
                try await ledger.retire(expired)
                batch.remove(Set(expired.map(\.seq)))
                if batch.isEmpty { continue }
            }
            if batch.isEmpty, outages.isOnTrial, queue.count == 0 {
                // The sink answers and nothing waits: the outage is over.
                await outages.end()
                continue
            }
            if batch.isEmpty { try await idle() } else {
                if let uplink {
                    try await uplink.spend(batch.reduce(0) { $0 + $1.wireBytes(framing: uplink.framing) }, now: clock.now)
                }
                try await publish(batch)
            }
        }
        try await ledger.settle()
    }

    /// Reads what was appended, up to the memory bounds (``RelayQueue/readRoom(replacing:)``: each lane
    /// keeps room of its own); while `inFlight` is with the sink, its messages are counted as gone (they
    /// leave when it is acknowledged), so that the read done during a publish can fill the queue again: the
    /// bounds are then exceeded by at most one batch.
    private func readNew(replacing inFlight: (lane: Int, count: Int, bytes: Int)? = nil) async throws {
        let found = try await readSide.read(room: queue.readRoom(replacing: inFlight))
        if let dropped = found.dropped { queue.remove(dropped) }
        queue.add(found.fresh)
        if !found.live.isEmpty { queue.add(found.live, live: true) }
        guard let size = found.deadLetterSize else { return }
        let redrive = try await ledger.deadLetters.requests(size: size, held: queue.held)
        if !redrive.isEmpty { queue.add(redrive) }
    }

    /// Publishes one batch; while the sink has it, what was appended meanwhile is read (its keys are in
    /// flight in the queue: nothing of theirs goes out before this batch's outcome).
    private func publish(_ batch: RelayQueue.Batch) async throws {
        let (messages, leaving, publisher) = (batch.messages, (lane: batch.lane, count: batch.count, bytes: batch.bytes), publisher)
        let now = env.configuration.clock.now()
        let timed = PublishedTimes.correcting(messages, now: now)
        let marked = env.configuration.live.map { Self.markingDelays(timed, within: $0.within, now: now) } ?? timed
        async let published = publisher.publish(marked)
        if outages.reason == nil {
            try await readNew(replacing: leaving)
            // The next batch need not wait for a read: this one read as many as this batch takes out of
            // the queue, and the next publish reads again.
            readAhead = true
        }
        let outcomes = await published
        let result = queue.apply(outcomes, to: batch, now: clock.now, clock: env.configuration.clock.now())
        try await ledger.bury(result.dead)
        try await ledger.retire(result.expired)
        if !result.published.isEmpty {
            // Usually the whole batch: then it is passed on as it is.
            let done = result.published.count == messages.count ? nil : Set(result.published)
            try await ledger.published(done.map { d in messages.filter { d.contains($0.seq) } } ?? messages)
            env.metrics.published.increment(by: result.published.count)
            let now = Date()
            env.metrics.lastPublish.record(now.timeIntervalSince1970)
            await outages.statusFile.published(route: env.route ?? "", at: now)
            for (m, outcome) in zip(batch, outcomes) where outcome == .published {
                env.metrics.commitToPublish.recordNanoseconds(Int64(max(0, now.timeIntervalSince(m.message.createdAt)) * 1e9))
            }
        }
        if result.failures > 0 { env.metrics.failed.increment(by: result.failures) }
        env.metrics.pendingBytes.record(queue.heldBytes)
        if !result.published.isEmpty {
            if await compaction.eagerReady { try await ledger.settle() }  // so that the compaction sees this batch's tombstones
            try await compaction.published()
        }
        if let why = result.unavailable {
            await outages.batchFound(unavailable: why)
        } else {
            await outages.end()
        }
    }

    /// `messages` as the sink gets them with ``OutboxRelayConfiguration/live``: each one published more
    /// than `within` after it was created carries ``LiveShare/delayedByHeader`` (whole milliseconds late).
    static func markingDelays(_ messages: [StoredMessage], within: Duration, now: ClockReading) -> [StoredMessage] {
        let limit = within.wholeMicroseconds
        guard messages.contains(where: { $0.ageMicros(at: now) > limit }) else { return messages }
        return messages.map { m in
            let age = m.ageMicros(at: now)
            guard age > limit else { return m }
            var marked = m
            let late = age / 1000
            marked.message.headers.append(.init(LiveShare.delayedByHeader, "\(late)"))
            return marked
        }
    }

    /// The uplink cap or budget holds the next batch back for `wait` (at most 2 s a time, so the sweep
    /// and the gauges go on); tombstones are settled first.
    private func waitForUplink(_ wait: Duration) async throws {
        try await ledger.settle()
        if isSweepDue { try await sweep() }
        await signals.wake.wait(for: min(wait, .seconds(2)))
    }

    /// Nothing may be published: tombstones are settled, the sweep runs when due, and the route waits
    /// for the next probe, sweep or reminder (at most 2 s), or a wake-up.
    private func holdDuringOutage() async throws {
        try await ledger.settle()
        if isSweepDue {
            try await sweep()
            await outages.writeStatus()
        }
        let now = clock.now
        let untilProbe = (outages.nextProbe ?? now) - now
        let untilReminder = (outages.nextReminder ?? now) - now
        await signals.wake.wait(for: max(.zero, min(untilProbe, untilSweep, untilReminder, .seconds(2))))
    }

    /// Nothing to publish now: every tombstone is committed before the route sweeps or waits.
    private func idle() async throws {
        try await ledger.settle()
        if isSweepDue {
            try await sweep()
            await outages.writeStatus()
            return
        }
        var wait = untilSweep
        if let retry = queue.nextRetry { wait = min(wait, max(.zero, retry - clock.now)) }
        // Messages held back (by a retry's backoff) age: the gauges follow.
        if queue.count > 0 { wait = min(wait, .seconds(2)) }
        if (queue.count >= env.configuration.maxInMemory || queue.heldBytes >= env.configuration.maxInMemoryBytes)
            && queue.nextRetry == nil { wait = .milliseconds(1) }
        await signals.wake.wait(for: wait)
    }

    /// The route's sweep: any pending message it takes that is older than the minimum age and that it
    /// does not hold (a lost wake-up, a state this relay never read) goes back into its queue; the next
    /// read lists the dead-letter file and reads `dropped.log` again, whatever the watch said (the
    /// fallback for a redrive request or a drop missed between two looks); and with several routes, the
    /// route's start moves up to what it still needs (FORMAT.md §5c).
    private func sweep() async throws {
        defer { lastSweep = clock.now }
        ledger.deadLetters.forgetSize()
        readSide.forgetDrops()
        signals.filesChanged([.deadLetters, .dropped])
        if env.recordsRoute, let route = env.route {
            let needed = min(queue.held.min() ?? readSide.nextSeq, readSide.nextSeq)
            if needed > env.tracker.start(of: route) {
                try await env.tombstones.declareRoute(route, startingAt: needed)
                env.tracker.advance(route, to: needed)
            }
        }
        let room = env.configuration.maxInMemory - queue.count
        guard room > 0 else { return }
        let (held, positions, lanes, match, finished) = (queue.held, readSide.positions, queue.lanes, env.match, env.finished)
        let (now, minimumAge) = (env.configuration.clock.now(), env.configuration.minimumAge.wholeMicroseconds)
        let reader = reader
        let stragglers = try await env.io.run {
            try reader.pendingMessages(limit: room, tombstones: { var s = TombstoneSnapshot(); s.published = finished; return s }())
                .filter { !held.contains($0.seq) && $0.seq < positions[lanes.lane(of: $0.message)] && $0.ageMicros(at: now) >= minimumAge
                    && match.matches($0.message) }
        }
        if !stragglers.isEmpty {
            env.logger.notice("sweep found pending messages the relay did not hold", metadata: ["count": "\(stragglers.count)"])
            queue.add(stragglers)
        }
    }
}
