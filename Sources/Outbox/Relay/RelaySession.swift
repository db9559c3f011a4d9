import Foundation

/// One active relay's loop, from taking the lock to stopping: read what was appended into the queue,
/// publish the next batch, record its outcomes, and wait out outages; sweep and compact when idle.
///
/// The stages each have one job: ``RelayReadSide`` reads the log, ``RelayQueue`` orders and retries,
/// ``RelayPublisher`` hands a batch to the sink, ``RelayLedger`` records outcomes (tombstones, dead
/// letters, redrives), ``OutageController`` probes an unavailable sink, ``RelayCompaction`` compacts and
/// sweeps. A second sink is a second queue, publisher, ledger and outage over the same reading side.
final class RelaySession {
    private let env: RelayEnvironment
    private let signals: RelaySignals
    private let reader: OutboxReader
    private let readSide: RelayReadSide
    private var queue: RelayQueue
    private let publisher: RelayPublisher
    private let ledger: RelayLedger
    private let outages: OutageController
    private let compaction: RelayCompaction
    private let clock = ContinuousClock()
    private var gauges = GaugeSchedule()
    /// Whether the messages appended meanwhile were read while the last batch was out.
    private var readAhead = false

    /// - Parameter watched: whether the directory watch reports changes (``RelaySignals/changed``): the
    ///   dead-letter file and `dropped.log` are then looked at only when it says they changed (or at a
    ///   sweep), not at every read.
    init(_ env: RelayEnvironment, sink: any OutboxSink, signals: RelaySignals, reader: OutboxReader, watched: Bool) async throws {
        self.env = env
        self.signals = signals
        self.reader = reader
        readSide = RelayReadSide(env, from: env.tombstones.snapshot.finished.firstMissing(from: 1), changes: watched ? signals : nil)
        queue = RelayQueue(configuration: env.configuration)
        publisher = RelayPublisher(sink: sink, metrics: env.metrics, logger: env.logger)
        ledger = RelayLedger(env)
        outages = OutageController(env, sink: sink, signals: signals, reader: reader)
        compaction = try await RelayCompaction(env, ledger: ledger, reader: reader)
    }

    /// Runs until the relay is asked to stop; every tombstone is committed when it returns.
    func run(startingWith availability: SinkAvailability) async throws {
        await outages.start(availability)
        await refreshGauges()
        while !signals.isStopping {
            if readAhead { readAhead = false } else { try await readNew() }
            await outages.checkConnectionLost()
            await refreshGauges()
            if outages.isHolding {
                if outages.takeProbeDue() {
                    // Deadlines still apply while nothing can be published.
                    try await ledger.retire(queue.expire(wallClock: Date()))
                    await outages.probeNow()
                }
                await outages.remind(queued: queue.count)
                if outages.isHolding {
                    try await holdDuringOutage()
                    continue
                }
            }
            var batch = queue.nextBatch(now: clock.now)
            // A message past its deadline is never published.
            let expired = queue.takeExpired(in: batch, wallClock: Date())
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
            if batch.isEmpty { try await idle() } else { try await publish(batch) }
        }
        try await ledger.settle()
    }

    /// Reads what was appended, up to the memory bounds; while `inFlight` is with the sink, its messages
    /// are counted as gone (they leave when it is acknowledged), so that the read done during a publish
    /// can fill the queue again: the bounds are then exceeded by at most one batch.
    private func readNew(replacing inFlight: (count: Int, bytes: Int) = (0, 0)) async throws {
        let found = try await readSide.read(room: env.configuration.maxInMemory - queue.count + inFlight.count,
                                            roomBytes: env.configuration.maxInMemoryBytes - queue.heldBytes + inFlight.bytes)
        if let dropped = found.dropped { queue.remove(dropped) }
        queue.add(found.fresh)
        guard let size = found.deadLetterSize else { return }
        let redrive = try await ledger.deadLetters.requests(size: size, held: queue.held)
        if !redrive.isEmpty { queue.add(redrive) }
    }

    /// Publishes one batch; while the sink has it, what was appended meanwhile is read (its keys are in
    /// flight in the queue: nothing of theirs goes out before this batch's outcome).
    private func publish(_ batch: RelayQueue.Batch) async throws {
        let (messages, leaving, publisher) = (batch.messages, (count: batch.count, bytes: batch.bytes), publisher)
        async let published = publisher.publish(messages)
        if outages.reason == nil {
            try await readNew(replacing: leaving)
            // The next batch need not wait for a read: this one read as many as this batch takes out of
            // the queue, and the next publish reads again.
            readAhead = true
        }
        let outcomes = await published
        let result = queue.apply(outcomes, to: batch, now: clock.now, wallClock: Date())
        try await ledger.bury(result.dead)
        try await ledger.retire(result.expired)
        if !result.published.isEmpty {
            try await ledger.published(result.published)
            env.metrics.published.increment(by: result.published.count)
            let now = Date()
            env.metrics.lastPublish.record(now.timeIntervalSince1970)
            await outages.statusFile.published(at: now, reachable: outages.reason == nil, error: outages.reason)
            for (m, outcome) in zip(batch, outcomes) where outcome == .published {
                env.metrics.commitToPublish.recordNanoseconds(Int64(max(0, now.timeIntervalSince(m.message.createdAt)) * 1e9))
            }
        }
        if result.failures > 0 { env.metrics.failed.increment(by: result.failures) }
        env.metrics.pendingBytes.record(queue.heldBytes)
        if !result.published.isEmpty { try await compaction.published() }
        if let why = result.unavailable {
            await outages.batchFound(unavailable: why)
        } else {
            await outages.end()
        }
    }

    /// Nothing may be published: tombstones are settled, the sweep runs when due, and the relay waits
    /// for the next probe, sweep or reminder (at most 2 s, for the gauges), or a wake-up.
    private func holdDuringOutage() async throws {
        try await ledger.settle()
        if compaction.isSweepDue {
            try await compaction.sweep(queue: &queue, tailNext: readSide.nextSeq, rereadBudget: false)
            lookAgain()
            await outages.statusFile.write(reachable: false, error: outages.reason)
        }
        let now = clock.now
        let untilProbe = (outages.nextProbe ?? now) - now
        let untilReminder = (outages.nextReminder ?? now) - now
        await signals.wake.wait(for: max(.zero, min(untilProbe, compaction.untilSweep, untilReminder, .seconds(2))))
    }

    /// Nothing to publish now: every tombstone is committed before the relay sweeps or waits.
    private func idle() async throws {
        try await ledger.settle()
        if compaction.isSweepDue {
            try await compaction.sweep(queue: &queue, tailNext: readSide.nextSeq, rereadBudget: true)
            lookAgain()
            await outages.statusFile.write(reachable: outages.reason == nil, error: outages.reason)
            return
        }
        var wait = compaction.untilSweep
        if let eager = compaction.untilEager {
            // The last publishes finished segments the next compaction removes: when idle, within a second.
            if eager == .zero { return try await compaction.compactEarly() }
            wait = min(wait, eager)
        }
        if let retry = queue.nextRetry { wait = min(wait, max(.zero, retry - clock.now)) }
        // Messages held back (by a retry's backoff) age, and a skipped refresh is due: the gauges follow.
        if queue.count > 0 { wait = min(wait, .seconds(2)) }
        if let due = gauges.wait(now: clock.now) { wait = min(wait, due) }
        if (queue.count >= env.configuration.maxInMemory || queue.heldBytes >= env.configuration.maxInMemoryBytes)
            && queue.nextRetry == nil { wait = .milliseconds(1) }
        await signals.wake.wait(for: wait)
    }

    /// The sweep's fallback for a redrive request or a drop missed between two looks: the next read lists
    /// the dead-letter file and reads `dropped.log` again, whatever the watch said.
    private func lookAgain() {
        ledger.deadLetters.forgetSize()
        readSide.forgetDrops()
        signals.filesChanged([.deadLetters, .dropped])
    }

    /// Records the gauges of the whole outbox when ``GaugeSchedule`` says they are due. The last committed
    /// number comes from the writer's durable mark and what the relay read: no walk of the active segment
    /// every two seconds (stats finds it so when the mark says nothing).
    private func refreshGauges() async {
        guard gauges.due(now: clock.now) else { return }
        let (reader, directory, durable, read) = (reader, env.directory, env.writerDurableThrough, readSide.nextSeq - 1)
        guard let stats = try? await env.io.run({
            let mark = durable?() ?? DurableMarkFile.read(in: directory, outboxID: reader.outboxID)
            return try reader.stats(lastSeq: mark > 0 ? max(mark, read) : nil)
        }) else { return }
        env.metrics.pending.record(Int(stats.pending))
        env.metrics.oldestPendingAge.record(stats.oldestPendingAgeSeconds ?? 0)
        env.metrics.diskBytes.record(stats.usedBytes)
    }
}
