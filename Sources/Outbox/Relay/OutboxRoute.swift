/// One destination of a relay: a name, which messages it takes, the sink it publishes them to, and how
/// (``OutboxRelay/init(path:routes:configuration:outbox:logger:)``).
///
/// **Independent progress:** each route has its own read position, queue, retries, dead letters and
/// outage state: a route whose sink is down waits the outage out while the others publish at full
/// speed. Per-key order holds per route (a key whose messages go to two routes has one order in each).
///
/// **Stored once:** a message is finished for the outbox once every route that matched it published,
/// dead-lettered or expired it; a message no route matches is tombstoned as unrouted (never published).
/// What each route finished is recorded in the tombstone log (FORMAT.md §5c).
public struct OutboxRoute: Sendable {
    /// The route's name: 1 to 64 letters, digits, `.`, `_` or `-`; it labels the route's metrics
    /// (`route="NAME"`) and its progress in the tombstone log.
    public var name: String
    /// Which messages it takes. Default: every message.
    public var match: RouteMatch
    /// Where they go.
    public var sink: any OutboxSink
    /// How it publishes (batches, attempts, backoff, time to live, strict order, memory bounds); nil: the
    /// relay's configuration. The relay's sweep, damage policy and standby settings apply to every route.
    public var configuration: OutboxRelayConfiguration?
    /// A route new to the outbox serves every message still pending (false, the default), or only what
    /// is appended from its first start on (true). Ignored once the route is known to the outbox.
    public var startsFromNow: Bool

    public init(name: String, match: RouteMatch = .all, sink: any OutboxSink, configuration: OutboxRelayConfiguration? = nil,
                startsFromNow: Bool = false) {
        self.name = name
        self.match = match
        self.sink = sink
        self.configuration = configuration
        self.startsFromNow = startsFromNow
    }
}
