import CRdKafka
import Foundation
import Logging
import Outbox

/// The librdkafka producer behind ``KafkaSink``. Every call runs on the sink's dedicated thread; the
/// delivery reports are served on that thread too (by `rd_kafka_flush`).
final class KafkaPublisher: BlockingBrokerClient, @unchecked Sendable {
    let configuration: KafkaSinkConfiguration
    /// How messages become CloudEvents, when they do.
    private let cloudEvents: CloudEventsForm?
    private let logger: Logger
    private let reports = AcknowledgementCollector<Int>()
    /// Notified by the sink's ``ReconnectWatcher``: librdkafka reconnects by itself without telling.
    let availability = AvailabilityObserver()

    /// During an outage, a metadata round trip on a handle of its own (``KafkaHandshake``).
    var reachabilityCheck: (@Sendable () -> any ReachabilityCheck)? {
        { [configuration] in KafkaHandshake(configuration: configuration) }
    }
    private var producer: OpaquePointer?
    /// Polls the producer between publishes, so that a broker lost while idle is reported at once.
    private var idleWatch: KafkaIdleWatch?

    private let topics: SinkTemplate

    init(configuration: KafkaSinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        topics = configuration.topicTemplate
        cloudEvents = configuration.cloudEvents.map { CloudEventsForm($0, binding: .kafka, outboxID: configuration.outboxID) }
        LibrdkafkaLog.use(logger)
    }

    /// Creates the producer unless one is usable, and checks that a broker answers and (for a topic
    /// without placeholders) that the topic exists. An idempotent producer that hit a fatal error is
    /// replaced.
    ///
    /// Throws ``OutboxError/Code/broker`` when no broker answers (an outage) and
    /// ``OutboxError/Code/invalidArgument`` for what waiting cannot fix: a property librdkafka refuses,
    /// failed authentication, a topic that does not exist.
    func connect() throws {
        if let problem = SinkTemplate.placeholderProblem(configuration.topic, outbox: configuration.outboxID) {
            throw OutboxError(.invalidArgument, "Kafka: \(problem)")
        }
        if let producer {
            var text = [CChar](repeating: 0, count: 512)
            let fatal = rd_kafka_fatal_error(producer, &text, text.count)
            if fatal == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            logger.warning("replacing the Kafka producer after a fatal error", metadata: ["error": "\(cText(text))"])
            close()
        }
        let conf = try Self.newConfiguration(configuration, settings: [
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "1"),
            ("message.timeout.ms", String(configuration.publishTimeout.wholeMilliseconds)),
        ])
        var text = [CChar](repeating: 0, count: 512)
        rd_kafka_conf_set_dr_msg_cb(conf, kafkaDeliveryReport)
        rd_kafka_conf_set_error_cb(conf, kafkaError)
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(reports).toOpaque())
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &text, text.count) else {
            rd_kafka_conf_destroy(conf)
            throw OutboxError(.broker, "Kafka: cannot create a producer: \(cText(text))")
        }
        // A metadata request proves a broker answers (the producer itself connects lazily).
        if let problem = Self.metadataProblem(rk, topic: configuration.fixedTopic, timeout: configuration.publishTimeout,
                                              servers: configuration.bootstrapServers) {
            rd_kafka_destroy(rk)
            throw problem
        }
        producer = rk
        idleWatch = KafkaIdleWatch(producer: rk, observer: availability)
        logger.info("connected to Kafka", metadata: ["bootstrap": "\(configuration.bootstrapServers)"])
    }

    /// A librdkafka configuration with the bootstrap servers, `settings`, then the sink's properties.
    /// Throws ``OutboxError/Code/invalidArgument`` for a property librdkafka refuses.
    static func newConfiguration(_ configuration: KafkaSinkConfiguration, settings: [(String, String)]) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw OutboxError(.broker, "Kafka: cannot create a configuration") }
        let all = [("bootstrap.servers", configuration.bootstrapServers)] + settings
            + configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var text = [CChar](repeating: 0, count: 512)
        for (name, value) in all where rd_kafka_conf_set(conf, name, value, &text, text.count) != RD_KAFKA_CONF_OK {
            rd_kafka_conf_destroy(conf)
            throw OutboxError(.invalidArgument, "Kafka: property \(name)=\(KafkaSinkConfiguration.shown(name, value)): \(cText(text))")
        }
        rd_kafka_conf_set_log_cb(conf, LibrdkafkaLog.callback)
        return conf
    }

    /// Asks a broker for metadata (of the topic, when it has no placeholders): nil when it answered.
    private static func metadataProblem(_ rk: OpaquePointer, topic: String?, timeout: Duration, servers: String) -> OutboxError? {
        let wait = Int32(min(timeout.wholeMilliseconds, 5000))
        var metadata: UnsafePointer<rd_kafka_metadata>?
        var answered: rd_kafka_resp_err_t
        if let topic, let handle = rd_kafka_topic_new(rk, topic, nil) {
            answered = rd_kafka_metadata(rk, 0, handle, &metadata, wait)
            rd_kafka_topic_destroy(handle)
        } else {
            answered = rd_kafka_metadata(rk, 0, nil, &metadata, wait)
        }
        guard answered == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            let text = "Kafka: no broker of \(servers) answered: \(String(cString: rd_kafka_err2str(answered)))"
            return OutboxError(answered == RD_KAFKA_RESP_ERR__AUTHENTICATION ? .invalidArgument : .broker, text)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        if let topic, metadata.pointee.topic_cnt >= 1, let t = metadata.pointee.topics {
            switch t[0].err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                break
            case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                return OutboxError(.invalidArgument, "Kafka: topic \(topic) does not exist on \(servers) (create it first)")
            case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
                return OutboxError(.invalidArgument, "Kafka: topic \(topic): \(String(cString: rd_kafka_err2str(t[0].err)))")
            default:
                return OutboxError(.broker, "Kafka: topic \(topic): \(String(cString: rd_kafka_err2str(t[0].err)))")
            }
        }
        return nil
    }

    /// A metadata round trip to a broker.
    func probe() -> String? {
        guard let rk = producer else { return "Kafka: not connected" }
        return Self.metadataProblem(rk, topic: configuration.fixedTopic, timeout: configuration.publishTimeout,
                                    servers: configuration.bootstrapServers)?.message
    }

    var displayName: String { "kafka://\(configuration.bootstrapServers) (topic \(configuration.topic))" }

    func close() {
        guard let rk = producer else { return }
        idleWatch?.stop()
        idleWatch = nil
        rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        rd_kafka_poll(rk, 0)
        rd_kafka_destroy(rk)
        producer = nil
    }

    /// Produces the round's messages (the ordering key is the Kafka key, so a key stays on one
    /// partition), then flushes: every message gets its delivery report, acknowledged by all in-sync
    /// replicas, or fails at the publish timeout. The producer is idempotent, so librdkafka's own
    /// retries neither duplicate nor reorder. Kafka does not deduplicate across producers: a message
    /// republished after a failure or a crash reaches consumers again with the same `outbox-id` header.
    ///
    /// A producer whose session the broker refused (fenced, its epoch or sequence lost, as after
    /// messages timed out during an outage) is replaced, and the messages it could not deliver are
    /// produced once more by the new one at once: the broker is there, so this is no outage.
    func publishRound(_ round: [StoredMessage]) -> [PublishOutcome] {
        var (outcomes, sessionLost) = produceAndFlush(round)
        guard sessionLost else { return outcomes }
        let again = round.indices.filter { if case .unavailable = outcomes[$0] { true } else { false } }
        guard !again.isEmpty, (try? connect()) != nil else { return outcomes }
        let (retried, lostAgain) = produceAndFlush(again.map { round[$0] })
        for (j, i) in again.enumerated() { outcomes[i] = retried[j] }
        if lostAgain { close() }
        return outcomes
    }

    /// Produces `round` on the current producer and flushes; the outcomes, and whether the broker
    /// refused the producer's session (the producer is closed then).
    private func produceAndFlush(_ round: [StoredMessage]) -> ([PublishOutcome], Bool) {
        guard let rk = producer else { return (Array(repeating: .unavailable("Kafka: not connected"), count: round.count), false) }
        guard let idleWatch else { return produceAndFlush(round, on: rk) }
        return idleWatch.whilePublishing { produceAndFlush(round, on: rk) }
    }

    private func produceAndFlush(_ round: [StoredMessage], on rk: OpaquePointer) -> ([PublishOutcome], Bool) {
        _ = reports.take()  // nothing left from an earlier round
        var outcomes = round.enumerated().map { i, m in produce(m, token: i + 1, on: rk) }
        if outcomes.contains(where: { $0 == nil }) {
            let waited = rd_kafka_flush(rk, Int32(configuration.publishTimeout.wholeMilliseconds + 2000))
            if waited != RD_KAFKA_RESP_ERR_NO_ERROR {
                // Whatever is still queued fails now (reported below), so no late report is credited
                // to a later round. A purged in-flight message may still arrive: at least once.
                rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                rd_kafka_poll(rk, 0)
            }
        }
        let delivered = reports.take()
        let sessionLost = delivered[Self.sessionLostToken] != nil
        if sessionLost {
            logger.info("replacing the Kafka producer: the broker refused its session",
                          metadata: ["error": "\(delivered[Self.sessionLostToken].map { "\($0)" } ?? "")"])
            close()
        }
        for i in round.indices where outcomes[i] == nil {
            outcomes[i] = delivered[i + 1] ?? .unavailable("no delivery report from Kafka within \(configuration.publishTimeout)")
        }
        return (outcomes.map { $0! }, sessionLost)
    }

    /// Enqueues one message; nil when it was accepted, otherwise its outcome.
    private func produce(_ m: StoredMessage, token: Int, on rk: OpaquePointer) -> PublishOutcome? {
        guard let headers = rd_kafka_headers_new(8) else { return .failed("Kafka: out of memory") }
        var payload = m.message.payload
        var pairs: [(name: String, value: String)]
        if let cloudEvents {
            let event = cloudEvents.render(m)
            (pairs, payload) = (event.headers, event.payload)
        } else {
            pairs = BrokerMetadata.headers(m, idName: "outbox-id")
        }
        for (name, value) in pairs {
            let bytes = Array(value.utf8)
            _ = bytes.withUnsafeBytes { rd_kafka_header_add(headers, name, -1, $0.baseAddress, $0.count) }
        }
        let key = m.orderingKey.map { Array($0.utf8) }
        let topic = topics.render(m)
        let error: OpaquePointer? = topic.withCString { topicName in
            payload.withUnsafeBytes { payload in
                (key ?? []).withUnsafeBytes { keyBytes in
                    var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6)
                    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    fields[0].u.cstr = topicName
                    fields[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    fields[1].u.i = RD_KAFKA_MSG_F_COPY
                    fields[2].vtype = RD_KAFKA_VTYPE_VALUE
                    fields[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: payload.baseAddress)
                    fields[2].u.mem.size = payload.count
                    fields[3].vtype = RD_KAFKA_VTYPE_HEADERS
                    fields[3].u.headers = headers
                    fields[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                    fields[4].u.ptr = UnsafeMutableRawPointer(bitPattern: token)
                    var count = 5
                    if key != nil {
                        fields[5].vtype = RD_KAFKA_VTYPE_KEY
                        fields[5].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                        fields[5].u.mem.size = keyBytes.count
                        count = 6
                    }
                    return rd_kafka_produceva(rk, fields, count)
                }
            }
        }
        guard let error else { return nil }  // the producer owns the headers now
        rd_kafka_headers_destroy(headers)
        defer { rd_kafka_error_destroy(error) }
        return Self.outcome(rd_kafka_error_code(error), "producing to \(topic)")
    }

    /// The delivery-report token (messages count from 1) that says the producer's session was refused.
    static let sessionLostToken = 0

    /// Errors that are about the producer's idempotence session, not the message: the producer must be
    /// replaced, and the message is republished by the new one.
    static func isSessionLost(_ code: rd_kafka_resp_err_t) -> Bool {
        switch code {
        case RD_KAFKA_RESP_ERR_PRODUCER_FENCED, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
             RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, RD_KAFKA_RESP_ERR_INVALID_PRODUCER_ID_MAPPING, RD_KAFKA_RESP_ERR__FENCED,
             RD_KAFKA_RESP_ERR__FATAL:
            return true
        default:
            return false
        }
    }

    /// The outcome a Kafka error code means: a message Kafka will never take is rejected; no broker,
    /// no leader, no answer in time, "try later" or a producer session the broker refused is the
    /// sink's outage.
    static func outcome(_ code: rd_kafka_resp_err_t, _ what: String) -> PublishOutcome {
        let text = "Kafka: \(what) failed: \(String(cString: rd_kafka_err2str(code)))"
        switch code {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, RD_KAFKA_RESP_ERR_INVALID_MSG, RD_KAFKA_RESP_ERR_INVALID_RECORD,
             RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION, RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
            return .rejected(text)
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT,
             RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__PURGE_QUEUE,
             RD_KAFKA_RESP_ERR__PURGE_INFLIGHT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
             RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
             RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
            return .unavailable(text)
        case _ where isSessionLost(code):
            return .unavailable(text)
        default:
            return .failed(text)
        }
    }
}

private let kafkaDeliveryReport: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = { _, message, opaque in
    guard let message, let opaque else { return }
    let reports = Unmanaged<AcknowledgementCollector<Int>>.fromOpaque(opaque).takeUnretainedValue()
    let token = Int(bitPattern: message.pointee._private)
    let err = message.pointee.err
    let outcome = err == RD_KAFKA_RESP_ERR_NO_ERROR ? PublishOutcome.published : KafkaPublisher.outcome(err, "delivering")
    reports.record(token, outcome)
    if KafkaPublisher.isSessionLost(err) { reports.record(KafkaPublisher.sessionLostToken, outcome) }
}

/// The text of a NUL-terminated C buffer.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
