/// What a relay is doing (``OutboxRelay/status``), for health checks and service managers.
public enum RelayStatus: Sendable, Equatable {
    /// Checking its sink and taking the relay lock.
    case starting
    /// Waiting: another relay holds the lock (or, with ``OutboxRelayConfiguration/waitForOutbox``, the
    /// outbox does not exist yet).
    case standby
    /// Holding the lock and publishing; `sinkReachable` is false during an outage.
    case active(sinkReachable: Bool)
    /// Holding the lock, but the sink refuses its configuration, found after start (a probe during an
    /// outage learned it: a stream deleted, a credential revoked, a port now speaking another protocol).
    /// The relay goes on probing, since a fix on the broker's side ends it, but nothing is published and
    /// health checks fail at once (the reason says why).
    case misconfigured(String)
    /// Its ``OutboxRelay/run()`` returned or threw.
    case stopped
}
