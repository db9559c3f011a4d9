import Logging
import Outbox

/// Publishes to NATS JetStream, with the message id as JetStream's deduplication id (`Nats-Msg-Id`).
///
/// **Guarantee.** A message is reported `.published` only once JetStream acknowledged storing it (or
/// recognised it as a duplicate of one it stored). Republished copies (after a failed acknowledgement
/// or a relay crash) carry the same `Nats-Msg-Id` and are dropped by JetStream within the stream's
/// duplicate window. Messages of one ordering key are published in sequence order: none is sent before
/// the earlier ones of its key in the batch were acknowledged.
///
/// Each message goes to the subject of ``NATSSinkConfiguration/subject`` with its payload as the data
/// and headers `Nats-Msg-Id` (the message id), `Outbox-Seq`, `Outbox-Type`, `Outbox-Key` (when it has a
/// key), `Outbox-Created-At` (RFC 3339), then the message's own headers in order. A message whose
/// headers NATS cannot carry, or that is larger than the server accepts, is rejected (dead-lettered).
///
/// **Availability.** A server that cannot be reached, a connection that is down or reconnecting, and an
/// acknowledgement that does not come within ``NATSSinkConfiguration/publishTimeout`` make the sink
/// unavailable (``PublishOutcome/unavailable(_:)``): the relay waits the outage out without counting
/// attempts. ``checkAvailability()`` connects and checks that the stream exists (or creates it) and
/// stores every subject the sink can produce; bad credentials or a stream that does not cover the
/// subject throw.
///
/// The sink connects at its first publish (or at ``connect()``); the client reconnects by itself.
/// Every call into the NATS client runs on a dedicated thread.
public final class NATSSink: BrokerSink, @unchecked Sendable {
    public let configuration: NATSSinkConfiguration

    public init(configuration: NATSSinkConfiguration, logger: Logger = Logger(label: "outbox.nats")) {
        self.configuration = configuration
        super.init(client: JetStreamPublisher(configuration: configuration, logger: logger), threadName: "outbox-nats-sink")
    }

    /// An `HPUB` line (subject: its template's length; a reply inbox; the lengths), the `NATS/1.0` header
    /// line and `Nats-Msg-Id`, and JetStream's acknowledgement back (`{"stream":…,"seq":…}` in a `MSG`).
    public override var framingBytes: Int { 150 + configuration.subject.utf8.count + configuration.stream.utf8.count }
}
