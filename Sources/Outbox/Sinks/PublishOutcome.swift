/// What became of one message handed to a sink.
///
/// Three kinds of failure are told apart, because they call for different remedies:
/// - ``unavailable(_:)``: the *sink* could not be reached. It says nothing about the message, so no
///   attempt is counted against it: the relay pauses the whole sink and waits the outage out.
/// - ``failed(_:)``: *this message* failed, transiently: it is retried with backoff, at most
///   ``OutboxRelayConfiguration/maxAttempts`` times.
/// - ``rejected(_:)``: *this message* can never be published (too large, an invalid header): it is
///   dead-lettered at once.
public enum PublishOutcome: Sendable, Equatable {
    /// The sink accepted it (durably, as far as the sink can tell).
    case published
    /// A transient failure of this message: the relay retries it with backoff and counts an attempt.
    case failed(String)
    /// A permanent refusal: the relay dead-letters it at once.
    case rejected(String)
    /// The sink itself is unavailable (not connected, connection refused or dropped, no answer in time,
    /// no responders, the broker says "try later", the sink's disk is full): the message was not judged.
    /// No attempt is counted; the relay pauses the sink and probes it until it answers again.
    case unavailable(String)

    /// Whether this outcome says the sink is unavailable.
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }

    /// Whether this outcome stops the later messages of the same ordering key in a batch.
    var holdsBackKey: Bool { self != .published }
}
