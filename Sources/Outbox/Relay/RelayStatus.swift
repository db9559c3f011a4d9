/// What a relay is doing (``OutboxRelay/status``), for health checks and service managers.
public enum RelayStatus: Sendable, Equatable {
    /// Checking its sink and taking the relay lock.
    case starting
    /// Waiting: another relay holds the lock (or, with ``OutboxRelayConfiguration/waitForOutbox``, the
    /// outbox does not exist yet).
    case standby
    /// Holding the lock and publishing; `sinkReachable` is false during an outage.
    case active(sinkReachable: Bool)
    /// Its ``OutboxRelay/run()`` returned or threw.
    case stopped
}
