import Logging
import Outbox

/// Publishes to an MQTT broker (MQTT 5, QoS 1 or 2), one topic per message type by default.
///
/// **Guarantee.** A message is reported `.published` only once the broker acknowledged it (PUBACK for
/// QoS 1, PUBCOMP for QoS 2). MQTT brokers do not deduplicate: a message republished after a failed
/// acknowledgement or a relay crash reaches subscribers again, carrying the same `outbox-id`, which is
/// the consumer's deduplication key. Messages of one ordering key are published in sequence order: none
/// is sent before the earlier ones of its key in the batch were acknowledged.
///
/// Each message goes to the topic of ``MQTTSinkConfiguration/topic`` with its payload, and MQTT 5 user
/// properties `outbox-id`, `outbox-seq`, `outbox-type`, `outbox-key` (when it has a key),
/// `outbox-created-at` (RFC 3339), then the message's own headers in order. A message the broker
/// refuses for good (topic invalid, packet too large) is rejected (dead-lettered).
///
/// **Availability.** A broker that refuses the connection, sends no CONNACK in time, drops the
/// connection, or acknowledges nothing within ``MQTTSinkConfiguration/publishTimeout`` makes the sink
/// unavailable (``PublishOutcome/unavailable(_:)``): the relay waits the outage out without counting
/// attempts. ``checkAvailability()`` connects (CONNACK); a broker that refuses the credentials throws.
/// During an outage a second connection, with client id ``MQTTSinkConfiguration/clientID`` plus
/// `-watch`, publishing nothing, tries for a CONNACK about once a second and tells the relay the moment
/// the broker answers, so publishing resumes within seconds of its return.
///
/// The sink connects at its first publish (or at ``connect()``) and reconnects after a failure. Every
/// call into libmosquitto runs on a dedicated thread.
public final class MQTTSink: BrokerSink, @unchecked Sendable {
    public let configuration: MQTTSinkConfiguration

    public init(configuration: MQTTSinkConfiguration, logger: Logger = Logger(label: "outbox.mqtt")) {
        self.configuration = configuration
        super.init(client: MosquittoPublisher(configuration: configuration, logger: logger), threadName: "outbox-mqtt-sink")
    }

    /// A PUBLISH's fixed header, topic (its template's length), packet id and properties' length, and the
    /// PUBACK back (QoS 1; PUBREC, PUBREL and PUBCOMP for QoS 2).
    public override var framingBytes: Int { 13 + configuration.topic.utf8.count + (configuration.qos == 2 ? 12 : configuration.qos == 1 ? 4 : 0) }
}
