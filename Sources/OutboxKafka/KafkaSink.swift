import Logging
import Outbox

/// Publishes to Kafka with an idempotent librdkafka producer (`acks=all`).
///
/// **Guarantee.** A message is reported `.published` only once its delivery report says all in-sync
/// replicas have it. The Kafka record key is the message's ordering key, so one key stays on one
/// partition, in sequence order: none is sent before the earlier ones of its key in the batch were
/// acknowledged, and the idempotent producer's own retries neither duplicate nor reorder. Kafka does
/// not deduplicate across producer sessions: a message republished after a failed delivery or a relay
/// crash reaches consumers again, with the same `outbox-id` header to deduplicate on.
///
/// Each message goes to the topic of ``KafkaSinkConfiguration/topic`` with its payload as the value
/// and headers `outbox-id`, `outbox-seq`, `outbox-type`, `outbox-key` (when it has a key),
/// `outbox-created-at` (RFC 3339), then the message's own headers in order. A message Kafka will never
/// take (too large, invalid) is rejected (dead-lettered).
///
/// **Availability.** No broker answering, no leader, and no delivery report within
/// ``KafkaSinkConfiguration/publishTimeout`` make the sink unavailable
/// (``PublishOutcome/unavailable(_:)``): the relay waits the outage out without counting attempts.
/// ``checkAvailability()`` asks a broker for metadata (of the topic, when it has no placeholders); a
/// topic that does not exist or failed authentication throws. During an outage a librdkafka handle of
/// its own asks for metadata about once a second and tells the relay the moment a broker answers. A
/// producer whose session the broker refused after the outage (fenced, its epoch lost) is replaced and
/// its undelivered messages produced again at once. librdkafka's own log lines go to the sink's logger.
///
/// Every call into librdkafka runs on a dedicated thread.
public final class KafkaSink: BrokerSink, @unchecked Sendable {
    public let configuration: KafkaSinkConfiguration

    public init(configuration: KafkaSinkConfiguration, logger: Logger = Logger(label: "outbox.kafka")) {
        self.configuration = configuration
        super.init(client: KafkaPublisher(configuration: configuration, logger: logger), threadName: "outbox-kafka-sink")
    }

    /// A record's own framing in a record batch (lengths, offsets and timestamp deltas, header counts):
    /// batches, their requests and acknowledgements are shared by up to a thousand messages.
    public override var framingBytes: Int { 24 }
}
