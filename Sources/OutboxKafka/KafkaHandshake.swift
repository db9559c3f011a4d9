import CRdKafka
import Outbox

/// The handshake ``KafkaSink``'s ``ReconnectWatcher`` tries during an outage: a metadata round trip on
/// a librdkafka handle of its own, kept for the whole watch so that librdkafka's reconnects (at most a
/// second apart) carry it, and the answer comes the moment a broker is back. It produces nothing.
final class KafkaHandshake: ReachabilityCheck {
    private let configuration: KafkaSinkConfiguration
    private var handle: OpaquePointer?

    init(configuration: KafkaSinkConfiguration) { self.configuration = configuration }

    func attempt(timeout: Duration) -> Bool {
        guard let rk = handle ?? open() else { return false }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let answered = rd_kafka_metadata(rk, 0, nil, &metadata, Int32(timeout.wholeMilliseconds))
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        return answered == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    private func open() -> OpaquePointer? {
        let settings = [("reconnect.backoff.ms", "100"), ("reconnect.backoff.max.ms", "1000")]
        guard let conf = try? KafkaPublisher.newConfiguration(configuration, settings: settings) else { return nil }
        var text = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &text, text.count) else {
            rd_kafka_conf_destroy(conf)
            return nil
        }
        handle = rk
        return rk
    }

    func close() {
        if let handle { rd_kafka_destroy(handle) }
        handle = nil
    }
}
