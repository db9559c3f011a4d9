/// How a relay publishes. Every field has a sensible default.
public struct OutboxRelayConfiguration: Sendable {
    /// How often the fallback sweep runs: it re-reads what is pending (lost wake-ups, failed publishes,
    /// crashed relays) and compacts the log. Default 30 s, as in the article this package grew from.
    public var sweepInterval: Duration = .seconds(30)
    /// The sweep republishes only pending messages at least this old. Default 30 s.
    public var minimumAge: Duration = .seconds(30)
    /// At most this many messages per sink call. A batch takes what is ready, so batches are this large
    /// only while a backlog drains (a file sink then makes one `fdatasync` per 1,000 messages, not per
    /// 100). Default 1000.
    public var batchSize: Int = 1000
    /// And at most about this many bytes of messages per sink call (``StoredMessage`` payloads plus a
    /// fixed overhead; one message is always taken, however large). Default 4 MiB.
    public var maxBatchBytes: Int = 4 << 20
    /// Attempts before a message is dead-lettered. Default 10.
    public var maxAttempts: Int = 10
    /// The backoff before the second attempt; it doubles per attempt up to ``maxBackoff``, with full jitter
    /// (a uniformly random wait between half the backoff and the backoff). Default 100 ms.
    public var initialBackoff: Duration = .milliseconds(100)
    /// The longest backoff. Default 30 s.
    public var maxBackoff: Duration = .seconds(30)
    /// A deliver-by deadline for every message that carries none of its own (``OutboxMessage/expiresAt``):
    /// its creation time plus this. A message past its deadline is never published: it is tombstoned as
    /// expired, during an outage too. Default nil (messages without a deadline never expire).
    public var defaultTimeToLive: Duration?
    /// Also copy expired messages to the dead-letter file (so that their content can be seen or
    /// redriven); their status stays expired. Default false.
    public var deadLetterExpired = false
    /// What the relay does with damage in a sealed segment it reads: `.refuse` (stop with an error naming
    /// file and offset, the default) or `.quarantine` (``DamagePolicy``: the file goes to `quarantine/`,
    /// a copy holding every intact message takes its place, and publishing goes on).
    public var onDamage: DamagePolicy = .refuse
    /// Publish every message in global sequence order (one failing message holds back all others), not
    /// only in order per key. Default false.
    public var strictOrder: Bool = false
    /// At most this many pending messages are held in memory; more are read as these finish. While a
    /// batch is with the sink, its replacements are read, so the bound may be exceeded by one batch
    /// (``batchSize``, ``maxBatchBytes``). Default 10000.
    public var maxInMemory: Int = 10_000
    /// And at most about this many bytes of them (payloads plus a fixed overhead per message); one
    /// message is always taken, however large. Default 64 MiB.
    public var maxInMemoryBytes: Int = 64 << 20
    /// How often a standby relay tries to take over the relay lock. Default 250 ms.
    public var standbyPollInterval: Duration = .milliseconds(250)
    /// While the sink is unavailable (``PublishOutcome/unavailable(_:)``), the relay publishes nothing
    /// and probes the sink (``OutboxSink/checkAvailability()``) with exponential backoff, from
    /// ``initialBackoff`` doubling up to this, with jitter. An outage counts no attempt against any
    /// message. Default 30 s.
    public var maxOutageBackoff: Duration = .seconds(30)
    /// While the sink stays unavailable, a reminder (how long, how many pending, the oldest's age) is
    /// logged at most this often. Default 5 minutes.
    public var outageReminderInterval: Duration = .seconds(300)
    /// An uplink rate cap, in bytes per second on the wire (``StoredMessage/wireBytes(framing:)``: payload, headers
    /// and an estimate of the protocol's framing), for a metered or shared link; each route of a relay
    /// keeps its own. Nil (the default): none.
    public var maxBytesPerSecond: Int?
    /// With ``maxBytesPerSecond``: how many bytes may go at once after the link was idle (the token
    /// bucket's size; a batch never takes more, except one message larger than it). Default: one second at
    /// the cap.
    public var burstBytes: Int?
    /// A budget per hour, day or month (UTC) on the wire, kept on disk across restarts: once spent, the
    /// route holds every message until the period ends. Nil (the default): none.
    public var uplinkBudget: UplinkBudget?
    /// The lanes the route reads by their own positions and their weights in its share of the uplink, in
    /// the order they go within a round (``LaneWeight``). A message of a lane not listed travels with
    /// `normal`'s (and keeps its lane's name for the sinks); `normal` is added with weight 1 if left out.
    /// Default ``LaneWeight/defaults``: `critical` 8, `normal` 4, `bulk` 1.
    public var lanes: [LaneWeight] = LaneWeight.defaults
    /// Live before backlog (``LiveShare``): once a lane's reader is more than `within` behind, the lane's
    /// later key-less appends are read by a position of their own and get `share` of the lane's uplink,
    /// and whatever is published later than `within` carries ``LiveShare/delayedByHeader``. Nil (the
    /// default): each lane is read in order alone. Not with ``strictOrder``.
    public var live: LiveShare?
    /// The keys of an encrypted outbox (FORMAT.md §10), for a relay opened by path (one given an opened
    /// outbox or the writer reads with theirs). Nil: an encrypted frame stops the relay with
    /// ``OutboxError/Code/missingKey``.
    public var keys: OutboxKeys?
    /// Wait, as a standby, while the path is not an outbox yet (missing, or holding no segment), instead
    /// of failing with ``OutboxError/Code/notAnOutbox``. Default false: a typo is an error, at once.
    public var waitForOutbox = false
    /// Where the relay reads the time (FORMAT.md §4c): deadlines and ages are measured from each commit's
    /// clock by the time since boot, so a jump of the wall clock neither expires a message early nor keeps
    /// it past its time. Default: the machine's (``OutboxClock/system``).
    public var clock: OutboxClock = .system
    /// The header holding an optional per-message deliver-by deadline (RFC 3339, or Unix seconds): past
    /// it, a message is never published and is tombstoned as expired (``OutboxMessage/expiresAt``).
    public static let deliverByHeader = OutboxMessage.deliverByHeader

    /// Watch the directory with inotify (tests turn it off to exercise sweeping alone).
    var watchDirectory = true

    /// The system-call seam (tests replace it to inject faults).
    var systemCalls: any SystemCalls = LinuxSystemCalls()

    public init() {}

    /// This configuration, or an ``OutboxError/Code/invalidArgument`` error naming the first field that
    /// cannot work: counts and sizes must be at least 1, durations more than 0 (``minimumAge`` may be 0)
    /// and at most a year, ``maxBackoff`` at least ``initialBackoff``. ``OutboxRelay/run()`` calls it
    /// first, so a relay that could never publish (a batch of 0) or would spin (a sweep every -1 s) does
    /// not start.
    public func validated() throws -> OutboxRelayConfiguration {
        func count(_ value: Int, _ name: String) throws {
            guard value >= 1 else { throw OutboxError(.invalidArgument, "OutboxRelayConfiguration.\(name) must be at least 1, not \(value)") }
        }
        func duration(_ value: Duration, _ name: String, allowZero: Bool = false) throws {
            guard value >= .zero, allowZero || value > .zero, value <= .seconds(365 * 86400) else {
                throw OutboxError(.invalidArgument,
                                  "OutboxRelayConfiguration.\(name) must be \(allowZero ? "from 0" : "more than 0") and at most a year, not \(value)")
            }
        }
        try count(batchSize, "batchSize")
        try count(maxBatchBytes, "maxBatchBytes")
        try count(maxAttempts, "maxAttempts")
        try count(maxInMemory, "maxInMemory")
        try count(maxInMemoryBytes, "maxInMemoryBytes")
        try duration(sweepInterval, "sweepInterval")
        try duration(minimumAge, "minimumAge", allowZero: true)
        try duration(initialBackoff, "initialBackoff")
        try duration(maxBackoff, "maxBackoff")
        try duration(maxOutageBackoff, "maxOutageBackoff")
        try duration(outageReminderInterval, "outageReminderInterval")
        try duration(standbyPollInterval, "standbyPollInterval")
        if let defaultTimeToLive { try duration(defaultTimeToLive, "defaultTimeToLive") }
        if let problem = live?.problem { throw OutboxError(.invalidArgument, "OutboxRelayConfiguration.live: \(problem)") }
        if live != nil, strictOrder {
            throw OutboxError(.invalidArgument, "OutboxRelayConfiguration.live cannot be used with strictOrder (nothing may pass the backlog)")
        }
        if let problem = LaneWeight.problem(lanes) { throw OutboxError(.invalidArgument, "OutboxRelayConfiguration.lanes \(problem)") }
        guard maxBackoff >= initialBackoff else {
            throw OutboxError(.invalidArgument, "OutboxRelayConfiguration.maxBackoff (\(maxBackoff)) must be at least initialBackoff (\(initialBackoff))")
        }
        return self
    }

    func backoff(afterAttempt attempt: Int, random: Double) -> Duration {
        Self.backoff(attempt, from: initialBackoff, cap: maxBackoff, random: random)
    }

    /// The wait before the next probe of an unavailable sink, after `probes` failed ones.
    func outageBackoff(afterProbes probes: Int, random: Double) -> Duration {
        Self.backoff(probes, from: initialBackoff, cap: maxOutageBackoff, random: random)
    }

    /// `initial` doubled per attempt after the first, capped, with full jitter (half to all of it).
    private static func backoff(_ attempt: Int, from initial: Duration, cap: Duration, random: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        var wait = initial * (1 << exponent)
        if wait > cap { wait = cap }
        return wait * (0.5 + 0.5 * random)
    }
}
