import Foundation
import Logging
import ServiceLifecycle
import Tracing

/// Publishes an outbox's pending messages to a sink: fast, in order per key, across crashes and restarts.
/// A swift-service-lifecycle `Service`; run it in a `ServiceGroup`, in the writer's process or another.
///
/// **Trigger.** An inotify watch on the outbox directory wakes the relay within a millisecond of a commit
/// by any process; a writer in the same process (``init(path:sink:configuration:outbox:logger:)`` with
/// `outbox`) also wakes it directly. Wake-ups coalesce into batches. The fallback sweep, every
/// ``OutboxRelayConfiguration/sweepInterval``, re-reads what is pending (older than
/// ``OutboxRelayConfiguration/minimumAge``) and compacts the log; without inotify it is the only trigger.
///
/// **Only durable messages are published:** inotify fires on `write`, before the writer's `fdatasync`;
/// after reading frames that may not be durable yet the relay `fdatasync`s that segment itself before
/// publishing them (not needed for a sealed segment, for bytes an earlier sync of its own covered, or
/// for what an in-process writer reports durable).
///
/// **Delivery:** at least once. A message is tombstoned (durably) only after the sink confirmed it; a
/// crash between the two republishes it with the same id, the consumer's deduplication key.
///
/// **Order:** per key, also across failures, retries and restarts: a failing message holds back the later
/// messages of its key (with exponential backoff and jitter) while other keys go on; after
/// ``OutboxRelayConfiguration/maxAttempts``, or past its deliver-by deadline, it is dead-lettered and its
/// key moves on. ``OutboxRelayConfiguration/strictOrder`` makes the whole outbox one key.
///
/// **Outages:** when the sink reports itself unavailable (``PublishOutcome/unavailable(_:)``: not
/// connected, refused, no answer in time), no attempt is counted against any message. The relay stops
/// publishing, keeps reading what is appended (up to its memory bounds; the rest waits on disk), probes
/// the sink with ``OutboxSink/checkAvailability()`` with capped exponential backoff
/// (``OutboxRelayConfiguration/maxOutageBackoff``), and resumes at full speed once a probe and then a
/// batch succeed. Only deliver-by deadlines still apply. It logs one warning when the sink goes away, a
/// reminder at most every ``OutboxRelayConfiguration/outageReminderInterval``, and one notice when it is
/// back.
///
/// **Startup:** the sink is checked before the first message: a misconfigured sink makes ``run()``
/// throw at once; an unreachable one starts an outage. A path that is no outbox makes ``run()`` throw
/// ``OutboxError/Code/notAnOutbox``, unless ``OutboxRelayConfiguration/waitForOutbox``.
///
/// **One active relay per outbox:** the relay holds `relay.lock`; other relays wait as standbys and take
/// over within ``OutboxRelayConfiguration/standbyPollInterval`` of its death. Graceful shutdown finishes
/// the batch in flight.
public final class OutboxRelay: Service, Sendable {
    public let path: String
    private let sink: any OutboxSink
    private let configuration: OutboxRelayConfiguration
    private let logger: Logger
    private let wake = WakeSignal()
    private let stopping = Shared(false)
    private let metrics: RelayMetrics
    private let statusState = Shared(RelayStatus.starting)
    /// Set when the sink says it is reachable again: the next probe is now.
    private let probeNow = Shared(false)
    /// Why the sink said it lost its connection, until the relay's loop takes it (an outage begins).
    private let connectionLost = Shared<String?>(nil)
    /// The in-process writer's durable mark (``Outbox/durableThrough``), if the writer is in this process.
    private let writerDurableThrough: (@Sendable () -> UInt64)?

    /// A relay for the outbox at `path`, publishing to `sink`. Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - path: the outbox directory.
    ///   - sink: where messages go.
    ///   - configuration: how it publishes; ``run()`` refuses one that cannot work
    ///     (``OutboxRelayConfiguration/validated()``).
    ///   - outbox: the writer, when it lives in this process: its commits wake the relay directly.
    ///   - logger: where the relay logs (the library never bootstraps logging).
    public init(path: String, sink: any OutboxSink, configuration: OutboxRelayConfiguration = .init(),
                outbox: Outbox? = nil, logger: Logger = Logger(label: "outbox.relay")) {
        self.path = path
        self.sink = sink
        self.configuration = configuration
        self.logger = logger
        metrics = RelayMetrics(outbox: path)
        if let outbox {
            writerDurableThrough = { @Sendable in outbox.durableThrough }
        } else {
            writerDurableThrough = nil
        }
        if let outbox {
            let wake = self.wake
            outbox.onDurable { _ in wake.signal() }
        }
        sink.observeAvailabilityChanges { [probeNow, connectionLost, wake] change in
            switch change {
            case .available:
                connectionLost.set(nil)
                probeNow.set(true)
            case .unavailable(let why):
                connectionLost.set(why)
            }
            wake.signal()
        }
    }

    /// Whether this relay holds the relay lock and publishes (false while it waits as a standby).
    public var isActive: Bool {
        switch statusState.get() {
        case .active, .misconfigured: true
        default: false
        }
    }

    /// What the relay is doing now: starting, standby, active (with the sink reachable or not), stopped.
    public var status: RelayStatus { statusState.get() }

    /// Runs the relay until its task is cancelled or the service group shuts down gracefully.
    ///
    /// Throws ``OutboxError/Code/invalidArgument`` at once for a configuration that cannot work
    /// (``OutboxRelayConfiguration/validated()``), and for a sink whose own check finds it misconfigured.
    public func run() async throws {
        _ = try configuration.validated()
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await runUntilStopped()
        } onCancelOrGracefulShutdown: { [stopping, wake] in
            stopping.set(true)
            wake.signal()
        }
    }

    private var isStopping: Bool { stopping.get() }

    private func runUntilStopped() async throws {
        defer { statusState.set(.stopped) }
        // The sink's configuration is checked before anything else: a misconfiguration is an error now,
        // not hours later when the first message arrives. An unreachable sink is an outage, not an error.
        var availability = try await checkSinkAtStart()
        guard let (tombstones, waited) = try await acquire() else { return }
        statusState.set(.active(sinkReachable: true))
        defer { statusState.set(.stopped) }
        logger.notice("relay active", metadata: ["outbox": "\(path)", "sink": "\(sink.displayName)"])
        if waited { availability = try await checkSinkAtStart() }
        let io = BlockingExecutor(name: "outbox-relay-io")
        let wake = self.wake
        let watcher = configuration.watchDirectory ? DirectoryWatcher(path: path, logger: logger) { wake.signal() } : nil
        do {
            try await publishLoop(tombstones: tombstones, io: io, availability: availability)
        } catch {
            watcher?.stop()
            io.finishQueued()  // every job was awaited: its thread ends without being waited for
            try? await tombstones.close()
            logger.error("relay stopped on an error", metadata: ["outbox": "\(path)", "error": "\(error)"])
            throw error
        }
        watcher?.stop()
        io.finishQueued()  // every job was awaited: its thread ends without being waited for
        try await tombstones.close()
        logger.notice("relay stopped", metadata: ["outbox": "\(path)"])
    }

    /// The sink's startup check: a definite misconfiguration throws, naming the sink.
    private func checkSinkAtStart() async throws -> SinkAvailability {
        do {
            return try await sink.checkAvailability()
        } catch let e as OutboxError {
            var e = e
            e.message = "sink \(sink.displayName): \(e.message)"
            throw e
        }
    }

    /// Takes the relay lock, waiting as a standby while another relay holds it (or, with
    /// ``OutboxRelayConfiguration/waitForOutbox``, while the outbox does not exist yet). Nil when stopped
    /// first; `waited` when it did not get the lock at once.
    private func acquire() async throws -> (TombstoneLog, waited: Bool)? {
        var announced = false
        while !isStopping {
            do {
                let (path, logger, sys, onDamage) = (self.path, self.logger, configuration.systemCalls, configuration.onDamage)
                let log = try await onDedicatedThread("outbox-relay-open") {
                    try TombstoneLog(openingAt: path, checkpointBytes: 1 << 20, logger: logger, sys: sys, onDamage: onDamage)
                }
                return (log, announced)
            } catch let e as OutboxError where e.code == .locked || (e.code == .notAnOutbox && configuration.waitForOutbox) {
                if !announced {
                    statusState.set(.standby)
                    logger.notice(e.code == .locked ? "relay waiting as a standby: another relay is active"
                                                    : "relay waiting as a standby: no outbox here yet",
                                  metadata: ["outbox": "\(path)", "reason": "\(e.message)"])
                    announced = true
                }
                await wake.wait(for: configuration.standbyPollInterval)
            }
        }
        return nil
    }

    /// The sink is unavailable: nothing is published; it is probed with capped exponential backoff.
    private struct Outage {
        let started: ContinuousClock.Instant
        var reason: String
        var probes = 0
        var nextProbe: ContinuousClock.Instant
        var lastReminder: ContinuousClock.Instant
        /// A probe succeeded: one batch may go, and decides whether the outage is over.
        var trial = false
        /// How many messages were pending when the probe succeeded (for the "back" line).
        var backlog: UInt64?
    }

    private func publishLoop(tombstones: TombstoneLog, io: BlockingExecutor, availability: SinkAvailability) async throws {
        let (path, sys) = (self.path, configuration.systemCalls)
        let (directory, reader) = try await io.run {
            (try OutboxDirectory.open(path, create: false, sys: sys), try OutboxReader(path: path, sys: sys))
        }
        let outboxID = tombstones.outboxID
        let start = tombstones.snapshot.finished.firstMissing(from: 1)
        let tail = UnsafeTransfer(LogTail(directory: directory, outboxID: outboxID, from: start))
        tail.value.durableThrough = writerDurableThrough
        var queue = RelayQueue(configuration: configuration)
        let clock = ContinuousClock()
        var lastSweep = clock.now
        // With a disk budget, segments are compacted as soon as they are finished (checked at most every
        // second while publishing), not at the next sweep: space comes back as the backlog drains.
        var budget = try await io.run { try DiskBudget.read(in: directory) }
        var lastEagerCompaction = clock.now
        var compactionDue = false
        func compactEarlyIfBudgeted() async throws {
            guard let b = budget, clock.now - lastEagerCompaction >= .seconds(1) else { return }
            try await settle()
            lastEagerCompaction = clock.now
            compactionDue = false
            let report = try await tombstones.compact()
            if !report.removedSegments.isEmpty {
                logger.debug("compacted finished segments (the outbox has a disk budget)", metadata: [
                    "budget": "\(b.maxBytes)", "removedSegments": "\(report.removedSegments.count)"])
            }
        }
        let maxRecordSize = tombstones.maxRecordSize
        var random = SystemRandomNumberGenerator()
        func probeWait(_ probes: Int) -> Duration {
            configuration.outageBackoff(afterProbes: probes, random: Double.random(in: 0...1, using: &random))
        }
        /// Dead letters go to the dead-letter file, durably, before their messages are tombstoned as dead.
        func bury(_ dead: [DeadLetter]) async throws {
            guard !dead.isEmpty else { return }
            redriving.subtract(dead.map(\.seq))  // a redriven message that died again has a new dead letter
            // Its own write does not make the relay list the file again (the sweep lists it anyway).
            deadLetterSize = try await io.run {
                try DeadLetterLog.append(dead, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
                return try DeadLetterLog.size(in: directory)
            }
            try await tombstones.acknowledge(dead.map(\.seq), as: .dead)
            for d in dead {
                logger.warning("dead-lettered", metadata: ["seq": "\(d.seq)", "id": "\(d.message.id)",
                                                           "reason": "\(d.reason)", "error": "\(d.lastError)"])
            }
            metrics.deadLettered.increment(by: dead.count)
        }
        /// Messages past their deliver-by deadline are tombstoned as expired (never published), after a copy
        /// to the dead-letter file if ``OutboxRelayConfiguration/deadLetterExpired``. One line per batch.
        func retire(_ expired: [DeadLetter]) async throws {
            guard !expired.isEmpty else { return }
            redriving.subtract(expired.map(\.seq))
            if configuration.deadLetterExpired {
                deadLetterSize = try await io.run {
                    try DeadLetterLog.append(expired, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
                    return try DeadLetterLog.size(in: directory)
                }
            }
            let seqs = SequenceRangeSet(expired.map(\.seq))
            try await tombstones.acknowledge(expired.map(\.seq), as: .expired)
            logger.notice("messages expired before they could be published (deliver-by deadline passed)", metadata: [
                "count": "\(expired.count)", "seqs": "\(seqs)"])
            metrics.expired.increment(by: expired.count)
        }
        // The numbers the writer dropped, read again whenever `dropped.log` changed size.
        var dropped = SequenceRangeSet()
        var droppedSize: Int64 = 0
        // Redrive requests: the dead-letter file is listed again whenever its size changed (at start too).
        var deadLetterSize: Int64 = -1
        var redriving = Set<UInt64>()
        /// Reads what was appended, up to the memory bounds; while `replacing` is with the sink, its
        /// messages are counted as gone (they leave when it is acknowledged), so that the read done during
        /// a publish can fill the queue again: the bounds are then exceeded by at most one batch.
        func readNew(replacing inFlight: (count: Int, bytes: Int) = (0, 0)) async throws {
            let room = configuration.maxInMemory - queue.count + inFlight.count
            let roomBytes = configuration.maxInMemoryBytes - queue.heldBytes + inFlight.bytes
            let canRead = room > 0 && roomBytes > 0
            let finished = tombstones.snapshot.finished
            let (fresh, holes, size, droppedFileSize) = try await io.run { [configuration, logger] in
                (canRead ? try Self.read(tail.value, limit: room, maxBytes: roomBytes, in: directory, onDamage: configuration.onDamage, logger: logger) : [],
                 tail.value.takeHoles(), try DeadLetterLog.size(in: directory),
                 (try? directory.openFile(FileNames.dropped, writable: false).size()) ?? 0)
            }
            // What the writer dropped to make room (drop-oldest) is never published, even if already read.
            if droppedFileSize != droppedSize {
                droppedSize = droppedFileSize
                dropped = droppedFileSize == 0 ? SequenceRangeSet() : try await io.run { try DroppedLog.read(in: directory, outboxID: outboxID) }
                queue.remove(dropped)
                metrics.dropped.record(dropped.count)
            }
            if canRead {
                // Usually none is finished or dropped: then the read is added as it is, not copied.
                let skip = { (seq: UInt64) in finished.contains(seq) || dropped.contains(seq) }
                queue.add(fresh.contains { skip($0.seq) } ? fresh.filter { !skip($0.seq) } : fresh)
            }
            // Numbers lost to damage (holes a repair or a quarantine wrote) are finished as dead, with no
            // dead letter: `dead-letters list` and `dump` show them as lost.
            let lost = holes.subtracting(finished)
            if !lost.isEmpty {
                try await tombstones.acknowledge(lost.ranges.lazy.flatMap { $0 }, as: .dead)
                logger.warning("sequence numbers lost to damage are tombstoned as lost", metadata: ["seqs": "\(lost)"])
            }
            guard size != deadLetterSize else { return }
            deadLetterSize = size
            let letters: [DeadLetter] = size == 0 ? [] : try await io.run { [configuration, logger] () throws -> [DeadLetter] in
                do { return try DeadLetterLog.list(in: directory, outboxID: outboxID) } catch let e as OutboxError
                    where configuration.onDamage == .quarantine && e.code == .corrupt {
                    // A damaged dead-letter file: set aside in quarantine/, its valid frames kept (the
                    // sequence numbers stay dead; a lost letter can no longer be redriven).
                    let action = try SegmentSalvage.rebuildOther(DeadLetterLog.fileName, kind: .deadLetters, base: 1, reference: outboxID,
                                                                 in: directory, keep: .quarantine(reason: e.message, offset: e.offset))
                    SegmentSalvage.report(quarantined: DeadLetterLog.fileName, because: e, action: action, lost: SequenceRangeSet(),
                                          in: directory, logger: logger)
                    return try DeadLetterLog.list(in: directory, outboxID: outboxID)
                }
            }
            let held = queue.held
            let requested = letters.filter { $0.redriveRequested && !redriving.contains($0.seq) && !held.contains($0.seq) }
            guard !requested.isEmpty else { return }
            redriving.formUnion(requested.map(\.seq))
            queue.add(requested.map {
                StoredMessage(seq: $0.seq, message: $0.message, segment: DeadLetterLog.fileName, offset: 0, compressed: false)
            })
            logger.notice("republishing dead letters on request", metadata: [
                "count": "\(requested.count)", "seqs": "\(SequenceRangeSet(requested.map(\.seq)))"])
        }
        /// Published messages are tombstoned; redriven dead letters (already tombstoned as dead) are marked
        /// redriven in the dead-letter file instead.
        func finish(_ published: [UInt64]) async throws {
            guard !redriving.isEmpty else { return try await tombstones.acknowledge(published) }
            let redriven = published.filter { redriving.contains($0) }
            try await tombstones.acknowledge(published.filter { !redriving.contains($0) })
            guard !redriven.isEmpty else { return }
            redriving.subtract(redriven)
            deadLetterSize = try await io.run {
                try DeadLetterLog.mark(SequenceRangeSet(redriven), .redriven, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
                return try DeadLetterLog.size(in: directory)
            }
        }
        // Tombstone commits of published batches run while the next batch is published: at most two in
        // flight. They are settled before anything that reads the tombstones (compaction, the sweep) and
        // before the relay waits or stops.
        var acks: [Task<Void, any Error>] = []
        func acknowledgeInBackground(_ published: [UInt64]) async throws {
            guard redriving.isEmpty else {
                try await settle()
                return try await finish(published)
            }
            if acks.count >= 2 { try await acks.removeFirst().value }
            acks.append(Task { try await tombstones.acknowledge(published) })
        }
        func settle() async throws {
            while !acks.isEmpty { try await acks.removeFirst().value }
        }
        // Whether the messages appended meanwhile were read while the last batch was out.
        var readAhead = false
        var lastPublishMicros: Int64?
        var statusWritten: (at: ContinuousClock.Instant, publish: Int64?)?
        let pid = getpid()
        /// What `outbox stats` in another process shows (advisory: a failure to write it is logged, not fatal).
        var outageSinceMicros: Int64?
        func writeStatus(reachable: Bool, error: String?) async {
            let status = RelayStatusFile(pid: pid, state: "active", sinkReachable: reachable, lastError: error,
                                         lastPublishMicros: lastPublishMicros, unreachableSinceMicros: reachable ? nil : outageSinceMicros)
            statusWritten = (clock.now, lastPublishMicros)
            do { try await io.run { try status.write(in: directory) } } catch {
                logger.debug("cannot write the relay status file", metadata: ["error": "\(error)"])
            }
        }
        var outage: Outage?
        func beginOutage(_ why: String) async {
            let now = clock.now
            outage = Outage(started: now, reason: why, nextProbe: now + probeWait(0), lastReminder: now)
            outageSinceMicros = OutboxMessage.micros(Date())
            statusState.set(.active(sinkReachable: false))
            metrics.sinkAvailable.record(0)
            metrics.outages.increment()
            logger.warning("sink unreachable; holding messages until it is back",
                           metadata: ["sink": "\(sink.displayName)", "error": "\(why)"])
            await writeStatus(reachable: false, error: why)
        }
        if case .unavailable(let why) = availability { await beginOutage(why) } else {
            metrics.sinkAvailable.record(1)
            await writeStatus(reachable: true, error: nil)
        }
        var gauges = GaugeSchedule()
        func refreshGauges() async {
            guard gauges.due(now: clock.now) else { return }
            await recordGauges(reader: reader, directory: directory, io: io, read: tail.value.nextSeq - 1)
        }
        await refreshGauges()
        while !isStopping {
            if readAhead { readAhead = false } else { try await readNew() }
            // The sink said it lost its connection (its client library knows at once): a probe now says
            // whether the outage begins (while idle too, not at the next publish) or the word was stale
            // (a client library's event served late, after the sink was back).
            if connectionLost.get() != nil {
                connectionLost.set(nil)
                if outage == nil, case .unavailable(let why) = await probe().0 { await beginOutage(why) }
            }
            await refreshGauges()
            if var o = outage, !o.trial {
                let now = clock.now
                let woken = probeNow.get()
                if woken {
                    probeNow.set(false)
                    o.nextProbe = now
                }
                if now >= o.nextProbe {
                    // Deadlines still apply while nothing can be published.
                    try await retire(queue.expire(wallClock: Date()))
                    // The next probe is timed from this one's start: a probe that waits for its timeout
                    // (a broker that answers nothing) does not stretch the interval.
                    let probeStarted = clock.now
                    let (found, misconfigured) = await probe()
                    if let misconfigured {
                        if statusState.get() != .misconfigured(misconfigured) {
                            logger.error("the sink refuses its configuration; nothing is published until that is fixed",
                                         metadata: ["sink": "\(sink.displayName)", "error": "\(misconfigured)"])
                        }
                        statusState.set(.misconfigured(misconfigured))
                    } else if case .misconfigured = statusState.get() {
                        statusState.set(.active(sinkReachable: found == .available))
                    }
                    logger.debug("probed the sink", metadata: [
                        "woken": "\(woken)", "took": "\(Self.text(clock.now - probeStarted))",
                        "error": "\(found == .available ? "-" : "\(found)")"])
                    switch found {
                    case .available:
                        o.trial = true
                        o.backlog = try? await io.run { try reader.stats().pending }
                    case .unavailable(let why):
                        o.probes += 1
                        o.reason = why
                        o.nextProbe = probeStarted + probeWait(o.probes)
                    }
                }
                let length = now - o.started
                metrics.outageSeconds.record(Double(length.components.seconds) + Double(length.components.attoseconds) / 1e18)
                if now - o.lastReminder >= configuration.outageReminderInterval {
                    o.lastReminder = now
                    let stats = try? await io.run { try reader.stats() }
                    logger.warning("sink still unreachable", metadata: [
                        "sink": "\(sink.displayName)", "for": "\(Self.text(now - o.started))", "error": "\(o.reason)",
                        "pending": "\(stats?.pending ?? UInt64(queue.count))",
                        "oldestPendingAge": "\(stats?.oldestPendingAgeSeconds.map { Self.text(.seconds($0)) } ?? "-")"])
                }
                outage = o
                if !o.trial {
                    try await settle()
                    if clock.now - lastSweep >= configuration.sweepInterval {
                        try await sweep(tombstones: tombstones, reader: reader, io: io, queue: &queue, tailNext: tail.value.nextSeq)
                        lastSweep = clock.now
                        deadLetterSize = -1
                        await writeStatus(reachable: false, error: o.reason)
                    }
                    let untilSweep = configuration.sweepInterval - (clock.now - lastSweep)
                    let untilReminder = configuration.outageReminderInterval - (clock.now - o.lastReminder)
                    await wake.wait(for: max(.zero, min(o.nextProbe - clock.now, untilSweep, untilReminder, .seconds(2))))
                    continue
                }
            }
            var batch = queue.nextBatch(now: clock.now)
            // A message past its deadline is never published.
            let expired = queue.takeExpired(in: batch, wallClock: Date())
            if !expired.isEmpty {
                try await retire(expired)
                let gone = Set(expired.map(\.seq))
                batch.remove(gone)
                if batch.isEmpty { continue }
            }
            if batch.isEmpty, let o = outage, o.trial, queue.count == 0 {
                // The sink answers and nothing waits: the outage is over.
                endOutage(o)
                outage = nil
                await writeStatus(reachable: true, error: nil)
                continue
            }
            if !batch.isEmpty {
                // While the sink publishes this batch, what was appended meanwhile is read (its keys are in
                // flight in the queue: nothing of theirs goes out before this batch's outcome).
                let (messages, leaving) = (batch.messages, (count: batch.count, bytes: batch.bytes))
                async let published = publish(messages)
                if outage == nil {
                    try await readNew(replacing: leaving)
                    // The next batch need not wait for a read: this one read as many as this batch takes
                    // out of the queue, and the next publish reads again.
                    readAhead = true
                }
                let outcomes = await published
                let result = queue.apply(outcomes, to: batch, now: clock.now, wallClock: Date())
                try await bury(result.dead)
                try await retire(result.expired)
                if !result.published.isEmpty {
                    try await acknowledgeInBackground(result.published)
                    metrics.published.increment(by: result.published.count)
                    let now = Date()
                    metrics.lastPublish.record(now.timeIntervalSince1970)
                    lastPublishMicros = OutboxMessage.micros(now)
                    // The first publish, then at most every 5 s, reach the status file.
                    if statusWritten?.publish == nil || clock.now - (statusWritten?.at ?? clock.now) > .seconds(5) {
                        await writeStatus(reachable: outage == nil, error: outage?.reason)
                    }
                    for (m, outcome) in zip(batch, outcomes) where outcome == .published {
                        metrics.commitToPublish.recordNanoseconds(Int64(max(0, now.timeIntervalSince(m.message.createdAt)) * 1e9))
                    }
                }
                if result.failures > 0 { metrics.failed.increment(by: result.failures) }
                metrics.pendingBytes.record(queue.heldBytes)
                if !result.published.isEmpty {
                    compactionDue = budget != nil
                    try await compactEarlyIfBudgeted()
                }
                if let why = result.unavailable {
                    if var o = outage {
                        // The probe said yes, the batch said no: keep waiting, backing off further.
                        o.trial = false
                        o.probes += 1
                        o.reason = why
                        o.nextProbe = clock.now + probeWait(o.probes)
                        outage = o
                    } else {
                        await beginOutage(why)
                    }
                } else if let o = outage {
                    endOutage(o)
                    outage = nil
                    await writeStatus(reachable: true, error: nil)
                }
                continue
            }
            // Idle: every tombstone is committed before the relay sweeps or waits.
            try await settle()
            if clock.now - lastSweep >= configuration.sweepInterval {
                budget = try await io.run { try DiskBudget.read(in: directory) }
                try await sweep(tombstones: tombstones, reader: reader, io: io, queue: &queue, tailNext: tail.value.nextSeq)
                lastSweep = clock.now
                deadLetterSize = -1  // the sweep's fallback for a redrive request missed between two looks
                await writeStatus(reachable: outage == nil, error: outage?.reason)
                continue
            }
            var wait = configuration.sweepInterval - (clock.now - lastSweep)
            if compactionDue {
                // The last publishes finished segments the next compaction removes: when idle, within a second.
                if clock.now - lastEagerCompaction >= .seconds(1) {
                    try await compactEarlyIfBudgeted()
                    continue
                }
                wait = min(wait, .seconds(1) - (clock.now - lastEagerCompaction))
            }
            if let retry = queue.nextRetry { wait = min(wait, max(.zero, retry - clock.now)) }
            // Messages held back (by a retry's backoff) age, and a skipped refresh is due: the gauges follow.
            if queue.count > 0 { wait = min(wait, .seconds(2)) }
            if let due = gauges.wait(now: clock.now) { wait = min(wait, due) }
            if (queue.count >= configuration.maxInMemory || queue.heldBytes >= configuration.maxInMemoryBytes)
                && queue.nextRetry == nil { wait = .milliseconds(1) }
            await wake.wait(for: wait)
        }
        try await settle()
    }

    /// Reads new messages from `tail`. With ``DamagePolicy/quarantine``, damage in a sealed segment (which
    /// the writer never touches again) is quarantined (``SegmentSalvage``) and the read goes on with what
    /// it still holds; damage in the active segment is still an error.
    private static func read(_ tail: LogTail, limit: Int, maxBytes: Int, in directory: OutboxDirectory, onDamage: DamagePolicy,
                             logger: Logger) throws -> [StoredMessage] {
        var quarantined: Set<String> = []
        while true {
            let start = tail.nextSeq
            do { return try tail.read(limit: limit, maxBytes: maxBytes) } catch let e as OutboxError where onDamage == .quarantine && e.code == .corrupt {
                guard let name = e.path?.split(separator: "/").last.map(String.init), !quarantined.contains(name),
                      try FileNames.list(directory).segments.dropLast().contains(where: { $0.name == name }) else { throw e }
                quarantined.insert(name)
                let (action, lost) = try SegmentSalvage.salvage(name, in: directory, keep: .quarantine(reason: e.message, offset: e.offset))
                SegmentSalvage.report(quarantined: name, because: e, action: action, lost: lost, in: directory, logger: logger)
                tail.restart(from: start)
            }
        }
    }

    /// Records the gauges of the whole outbox (``GaugeSchedule`` says when). The last committed number
    /// comes from the writer's durable mark and what the relay `read`: no walk of the active segment
    /// every two seconds (stats finds it so when the mark says nothing).
    private func recordGauges(reader: OutboxReader, directory: OutboxDirectory, io: BlockingExecutor, read: UInt64) async {
        let durable = writerDurableThrough
        guard let stats = try? await io.run({
            let mark = durable?() ?? DurableMarkFile.read(in: directory, outboxID: reader.outboxID)
            return try reader.stats(lastSeq: mark > 0 ? max(mark, read) : nil)
        }) else { return }
        metrics.pending.record(Int(stats.pending))
        metrics.oldestPendingAge.record(stats.oldestPendingAgeSeconds ?? 0)
        metrics.diskBytes.record(stats.usedBytes)
    }

    /// One probe of an unavailable sink; an error (a misconfiguration found on reconnecting) keeps the
    /// outage going, with the error as its reason: waiting loses nothing, exiting would stop the backlog.
    /// A definite misconfiguration (``OutboxError/Code/invalidArgument``) is also returned, so that the
    /// relay's status says so (``RelayStatus/misconfigured(_:)``: health checks fail at once).
    private func probe() async -> (SinkAvailability, misconfigured: String?) {
        do { return (try await sink.checkAvailability(), nil) } catch let e as OutboxError where e.code == .invalidArgument {
            return (.unavailable("\(e)"), e.message)
        } catch { return (.unavailable("\(error)"), nil) }
    }

    private func endOutage(_ o: Outage) {
        metrics.sinkAvailable.record(1)
        metrics.outageSeconds.record(0)
        statusState.set(.active(sinkReachable: true))
        logger.notice("sink reachable again; publishing the backlog", metadata: [
            "sink": "\(sink.displayName)", "outage": "\(Self.text(ContinuousClock.now - o.started))",
            "backlog": "\(o.backlog.map { "\($0)" } ?? "-")"])
    }

    /// A duration for log lines: `42.1s`, `12m5s`, `3h2m`.
    static func text(_ d: Duration) -> String {
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60)m\(whole % 60)s" }
        return "\(whole / 3600)h\(whole % 3600 / 60)m"
    }

    /// The fallback: compaction, and any pending message older than the minimum age that is not held
    /// (a lost wake-up, a state this relay never read) goes back into the queue.
    private func sweep(tombstones: TombstoneLog, reader: OutboxReader, io: BlockingExecutor, queue: inout RelayQueue, tailNext: UInt64) async throws {
        let report = try await tombstones.compact()
        if !report.removedSegments.isEmpty {
            logger.debug("sweep compacted", metadata: ["removedSegments": "\(report.removedSegments.count)"])
        }
        let snapshot = tombstones.snapshot
        let room = configuration.maxInMemory - queue.count
        guard room > 0 else { return }
        let held = queue.held
        let cutoff = Date().addingTimeInterval(-configuration.minimumAge.seconds)
        let stragglers = try await io.run {
            try reader.pendingMessages(limit: room, tombstones: snapshot)
                .filter { !held.contains($0.seq) && $0.seq < tailNext && $0.message.createdAt <= cutoff }
        }
        if !stragglers.isEmpty {
            logger.notice("sweep found pending messages the relay did not hold", metadata: ["count": "\(stragglers.count)"])
            queue.add(stragglers)
        }
    }

    /// Publishes one batch in a producer span linked to the trace context each message carries.
    private func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let started = ContinuousClock.now
        let outcomes = await withSpan("outbox publish", ofKind: .producer) { span in
            span.attributes["outbox.batch_size"] = batch.count
            for m in batch {
                let context = TraceHeaders.extract(m.message)
                if context.count > 0 { span.addLink(SpanLink(context: context, attributes: [:])) }
            }
            return await sink.publish(batch)
        }
        metrics.publishLatency.recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
        guard outcomes.count == batch.count else {
            logger.error("sink returned \(outcomes.count) outcomes for \(batch.count) messages; treating all as failed",
                         metadata: ["sink": "\(sink.displayName)"])
            return Array(repeating: .failed("the sink broke its contract"), count: batch.count)
        }
        return outcomes
    }
}
