import Foundation

/// The sink is unavailable: nothing is published; it is probed with capped exponential backoff
/// (``OutboxRelayConfiguration/maxOutageBackoff``) until a probe and then a batch succeed. One warning
/// when it begins, a reminder at most every ``OutboxRelayConfiguration/outageReminderInterval``, one
/// notice when it ends; the status (``RelayStatus``, the gauges, `relay-status.json`) follows.
final class OutageController {
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

    private let env: RelayEnvironment
    private let sink: any OutboxSink
    private let signals: RouteSignals
    /// Where the relay's status shows (``RelayStatus``).
    /// The relay's signals: its status follows its routes' (``RelaySignals/refreshStatus()``).
    private let relay: RelaySignals
    private let reader: OutboxReader
    let statusFile: RelayStatusWriter
    /// When the current outage began (wall clock, microseconds).
    private var outageSinceMicros: Int64?
    private let clock = ContinuousClock()
    private var random = SystemRandomNumberGenerator()
    private var outage: Outage?
    /// Whether the pending probe was asked for by the sink's word (for the debug line).
    private var woken = false

    init(_ env: RelayEnvironment, sink: any OutboxSink, signals: RouteSignals, relay: RelaySignals, reader: OutboxReader,
         statusFile: RelayStatusWriter) {
        self.env = env
        self.sink = sink
        self.signals = signals
        self.relay = relay
        self.reader = reader
        self.statusFile = statusFile
    }

    /// Tells the status file what this route's sink is doing now.
    func writeStatus() async {
        await statusFile.report(route: env.route ?? "", reachable: outage == nil, error: outage?.reason, outageSinceMicros: outageSinceMicros)
    }

    /// Nothing may be published: an outage with no successful probe since the last failure.
    var isHolding: Bool { outage.map { !$0.trial } ?? false }
    /// A probe succeeded: the next batch decides whether the outage is over.
    var isOnTrial: Bool { outage?.trial ?? false }
    /// The current outage's reason; nil when the sink is reachable.
    var reason: String? { outage?.reason }
    /// When the next probe is due, during an outage.
    var nextProbe: ContinuousClock.Instant? { outage?.nextProbe }
    /// When the next reminder is due, during an outage.
    var nextReminder: ContinuousClock.Instant? { outage.map { $0.lastReminder + env.configuration.outageReminderInterval } }

    /// The sink's state at start: an outage, or a reachable sink in the status.
    func start(_ availability: SinkAvailability) async {
        if case .unavailable(let why) = availability { return await begin(why) }
        signals.reachable.set(true)
        relay.refreshStatus()
        env.metrics.sinkAvailable.record(1)
        await writeStatus()
    }

    func begin(_ why: String) async {
        let now = clock.now
        outage = Outage(started: now, reason: why, nextProbe: now + wait(afterProbes: 0), lastReminder: now)
        outageSinceMicros = OutboxMessage.micros(Date())
        signals.reachable.set(false)
        relay.refreshStatus()
        env.metrics.sinkAvailable.record(0)
        env.metrics.outages.increment()
        env.logger.warning("sink unreachable; holding messages until it is back",
                           metadata: ["sink": "\(sink.displayName)", "error": "\(why)"])
        await writeStatus()
    }

    /// The sink answers again (a batch went out, or nothing waits after a good probe).
    func end() async {
        guard let o = outage else { return }
        outage = nil
        env.metrics.sinkAvailable.record(1)
        env.metrics.outageSeconds.record(0)
        signals.reachable.set(true)
        relay.refreshStatus()
        env.logger.notice("sink reachable again; publishing the backlog", metadata: [
            "sink": "\(sink.displayName)", "outage": "\(Self.text(clock.now - o.started))",
            "backlog": "\(o.backlog.map { "\($0)" } ?? "-")"])
        await writeStatus()
    }

    /// A batch found the sink unavailable: an outage begins, or (on trial) goes on, backing off further.
    func batchFound(unavailable why: String) async {
        guard var o = outage else { return await begin(why) }
        o.trial = false
        o.probes += 1
        o.reason = why
        o.nextProbe = clock.now + wait(afterProbes: o.probes)
        outage = o
    }

    /// The sink said it lost its connection (its client library knows at once): a probe now says whether
    /// the outage begins (while idle too, not at the next publish) or the word was stale (a client
    /// library's event served late, after the sink was back).
    func checkConnectionLost() async {
        guard signals.connectionLost.get() != nil else { return }
        signals.connectionLost.set(nil)
        if outage == nil, case .unavailable(let why) = await probe().0 { await begin(why) }
    }

    /// Whether a probe is due now (at its time, or at once when the sink said it is back).
    func takeProbeDue() -> Bool {
        guard var o = outage, !o.trial else { return false }
        woken = signals.probeNow.get()
        if woken {
            signals.probeNow.set(false)
            o.nextProbe = clock.now
            outage = o
        }
        return clock.now >= o.nextProbe
    }

    /// Probes the sink. The next probe is timed from this one's start: a probe that waits for its timeout
    /// (a broker that answers nothing) does not stretch the interval.
    func probeNow() async {
        guard var o = outage else { return }
        let started = clock.now
        let (found, misconfigured) = await probe()
        if let misconfigured {
            if signals.misconfigured.get() != misconfigured {
                env.logger.error("the sink refuses its configuration; nothing is published until that is fixed",
                                 metadata: ["sink": "\(sink.displayName)", "error": "\(misconfigured)"])
            }
            signals.misconfigured.set(misconfigured)
            relay.refreshStatus()
        } else if signals.misconfigured.get() != nil {
            signals.misconfigured.set(nil)
            signals.reachable.set(found == .available)
            relay.refreshStatus()
        }
        env.logger.debug("probed the sink", metadata: [
            "woken": "\(woken)", "took": "\(Self.text(clock.now - started))",
            "error": "\(found == .available ? "-" : "\(found)")"])
        switch found {
        case .available:
            o.trial = true
            let reader = reader
            o.backlog = try? await env.io.run { try reader.stats().pending }
        case .unavailable(let why):
            o.probes += 1
            o.reason = why
            o.nextProbe = started + wait(afterProbes: o.probes)
        }
        outage = o
    }

    /// Records the outage's length, and logs a reminder when one is due (`queued`: what the relay holds,
    /// said when the outbox's own count cannot be read).
    func remind(queued: Int) async {
        guard var o = outage else { return }
        let now = clock.now
        let length = now - o.started
        env.metrics.outageSeconds.record(Double(length.components.seconds) + Double(length.components.attoseconds) / 1e18)
        guard now - o.lastReminder >= env.configuration.outageReminderInterval else { return }
        o.lastReminder = now
        outage = o
        let reader = reader
        let stats = try? await env.io.run { try reader.stats() }
        env.logger.warning("sink still unreachable", metadata: [
            "sink": "\(sink.displayName)", "for": "\(Self.text(now - o.started))", "error": "\(o.reason)",
            "pending": "\(stats?.pending ?? UInt64(queued))",
            "oldestPendingAge": "\(stats?.oldestPendingAgeSeconds.map { Self.text(.seconds($0)) } ?? "-")"])
    }

    private func wait(afterProbes probes: Int) -> Duration {
        env.configuration.outageBackoff(afterProbes: probes, random: Double.random(in: 0...1, using: &random))
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

    /// A duration for log lines: `42.1s`, `12m5s`, `3h2m`.
    static func text(_ d: Duration) -> String {
        let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60)m\(whole % 60)s" }
        return "\(whole / 3600)h\(whole % 3600 / 60)m"
    }
}
