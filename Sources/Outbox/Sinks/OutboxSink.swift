/// Where the relay publishes: an event bus, a file, standard output.
///
/// **Contract.** ``publish(_:)`` gets a batch in sequence order, which may hold several messages of one
/// key, and returns exactly one outcome per message, in the same order. The relay tombstones a message
/// only after its outcome is `.published`, so a sink sees a message at least once; use
/// ``StoredMessage/message``'s `id` as the deduplication key. To keep order, a sink must not publish a
/// message after an earlier message *with the same ``StoredMessage/orderingKey`` in the batch* failed:
/// report it as failed too (``publishInOrder(_:_:)`` does this for sinks that publish one message at a
/// time). Under the relay's strict order every message has the same ordering key.
/// The relay calls ``publish(_:)`` from one task at a time.
///
/// **Outages.** Report ``PublishOutcome/unavailable(_:)`` when the sink, not the message, is the
/// problem; after one, report every later message of the batch as unavailable too without trying it
/// (``publishInOrder(_:_:)`` and ``PublishRounds`` do). The relay then stops publishing and calls
/// ``checkAvailability()`` with capped exponential backoff until it returns
/// ``SinkAvailability/available``.
public protocol OutboxSink: Sendable {
    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome]

    /// Connects if the sink has a connection, and checks its configuration. The relay calls it before
    /// the first message and, while the sink is unavailable, as its probe.
    ///
    /// Returns ``SinkAvailability/unavailable(_:)`` when the sink cannot be reached now (an outage),
    /// and throws ``OutboxError`` (code ``OutboxError/Code/invalidArgument``) for a definite
    /// misconfiguration that waiting cannot fix (a stream that does not cover the subject, bad
    /// credentials, an unknown option). The default returns ``SinkAvailability/available``: such a
    /// sink's next batch is its probe.
    func checkAvailability() async throws -> SinkAvailability

    /// What the sink is, for logs: its kind and address, never a password, token or credential.
    var displayName: String { get }

    /// Registers `observer`, to be called (from any thread) when the sink learns by itself that it is
    /// reachable again, for example when its client library reconnected in the background. The relay
    /// then probes at once instead of at the end of its backoff. The default never calls it.
    func observeAvailability(_ observer: @escaping @Sendable () -> Void)

    /// Registers `observer`, to be called (from any thread) whenever the sink learns by itself that it
    /// became unreachable (``SinkAvailability/unavailable(_:)``: its client library lost the connection)
    /// or reachable again (``SinkAvailability/available``). The relay then shows the outage at once, while
    /// idle too (`/healthz`, `outbox_sink_available`, its status), and probes at once on a return. The
    /// default reports returns through ``observeAvailability(_:)`` only.
    func observeAvailabilityChanges(_ observer: @escaping @Sendable (SinkAvailability) -> Void)

    /// About how many bytes the sink's protocol adds to each message on the wire (framing, subject or
    /// topic, acknowledgement), for an uplink cap (``StoredMessage/wireBytes(framing:)``). Default 64.
    var framingBytes: Int { get }
}

extension OutboxSink {
    public func checkAvailability() async throws -> SinkAvailability { .available }
    public var displayName: String { String(describing: type(of: self)) }
    public var framingBytes: Int { 64 }
    public func observeAvailability(_ observer: @escaping @Sendable () -> Void) {}
    public func observeAvailabilityChanges(_ observer: @escaping @Sendable (SinkAvailability) -> Void) {
        observeAvailability { observer(.available) }
    }
}
