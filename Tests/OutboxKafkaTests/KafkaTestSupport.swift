import CRdKafka
import Foundation
import Outbox
@testable import OutboxKafka
@_exported import OutboxTestSupport

/// librdkafka's mock cluster: in-process brokers speaking the Kafka protocol on loopback ports
/// (produce, idempotent produce, consume, error injection). Debian packages no Kafka broker, so the
/// Kafka sink is tested against this.
final class MockKafkaCluster: @unchecked Sendable {
    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    let bootstrapServers: String

    init(brokers: Int = 3) throws {
        var text = [CChar](repeating: 0, count: 512)
        guard let conf = rd_kafka_conf_new(), let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &text, text.count) else {
            throw OutboxError(.broker, "cannot create the mock cluster's handle")
        }
        guard let cluster = rd_kafka_mock_cluster_new(handle, Int32(brokers)) else {
            rd_kafka_destroy(handle)
            throw OutboxError(.broker, "cannot create a mock Kafka cluster")
        }
        self.handle = handle
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }

    func createTopic(_ name: String, partitions: Int) {
        rd_kafka_mock_topic_create(cluster, name, Int32(partitions), 1)
    }

    /// Takes every broker away (connections closed, new ones refused), or brings them back.
    func setBrokers(up: Bool, count: Int) {
        for id in 1...Int32(count) {
            _ = up ? rd_kafka_mock_broker_set_up(cluster, id) : rd_kafka_mock_broker_set_down(cluster, id)
        }
    }

    /// Makes the next `errors.count` produce requests fail with these errors, in order.
    func failProduceRequests(_ errors: [rd_kafka_resp_err_t]) {
        errors.withUnsafeBufferPointer { rd_kafka_mock_push_request_errors_array(cluster, 0, errors.count, $0.baseAddress) }
    }
}

/// One record as a consumer read it.
struct ConsumedRecord {
    var partition: Int32
    var key: String?
    var headers: [String: String]
    var value: [UInt8]
    var seq: UInt64? { headers["outbox-seq"].flatMap(UInt64.init) }
}

/// Reads every partition of `topic` from the beginning to its end (blocking).
func consumeAll(_ bootstrap: String, topic: String, partitions: Int) throws -> [ConsumedRecord] {
    var text = [CChar](repeating: 0, count: 512)
    guard let conf = rd_kafka_conf_new() else { throw OutboxError(.broker, "no conf") }
    for (k, v) in [("bootstrap.servers", bootstrap), ("enable.partition.eof", "true"), ("group.id", "probe")] {
        rd_kafka_conf_set(conf, k, v, &text, text.count)
    }
    guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &text, text.count) else { throw OutboxError(.broker, "no consumer") }
    defer { rd_kafka_destroy(rk) }
    guard let rkt = rd_kafka_topic_new(rk, topic, nil) else { throw OutboxError(.broker, "no topic handle") }
    defer { rd_kafka_topic_destroy(rkt) }
    var out: [ConsumedRecord] = []
    for p in 0..<Int32(partitions) {
        guard rd_kafka_consume_start(rkt, p, Int64(RD_KAFKA_OFFSET_BEGINNING)) == 0 else { throw OutboxError(.broker, "cannot consume partition \(p)") }
        defer { rd_kafka_consume_stop(rkt, p) }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard let m = rd_kafka_consume(rkt, p, 500) else { continue }
            defer { rd_kafka_message_destroy(m) }
            if m.pointee.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { break }
            guard m.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            var headers: [String: String] = [:]
            var list: OpaquePointer?
            if rd_kafka_message_headers(m, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
                var i = 0
                var name: UnsafePointer<CChar>?
                var value: UnsafeRawPointer?
                var size = 0
                while rd_kafka_header_get_all(list, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                    if let name { headers[String(cString: name)] = value.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: size), as: UTF8.self) } ?? "" }
                    i += 1
                }
            }
            let key = m.pointee.key.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: m.pointee.key_len), as: UTF8.self) }
            let value = m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.pointee.len)) } ?? []
            out.append(ConsumedRecord(partition: p, key: key, headers: headers, value: value))
        }
    }
    return out
}
