import CRdKafka
import Outbox

/// Where and how ``KafkaSink`` publishes to Kafka.
public struct KafkaSinkConfiguration: Sendable {
    /// The bootstrap brokers, comma-separated `host:port` pairs.
    public var bootstrapServers: String

    /// The topic of each message. `{type}` is replaced by the message's type and `{key}` by its key
    /// (`_` when it has none); characters a topic name cannot hold (anything but letters, digits, `.`,
    /// `_` and `-`) become `_`. Default `outbox.{type}`.
    public var topic: String = "outbox.{type}"
    /// The outbox's id, for `{outbox}` in the topic (`outbox relay` fills it in); a topic that names
    /// `{outbox}` without it is refused when the sink connects. `{host}` is this machine's host name.
    public var outboxID: OutboxID?

    /// Publish each message as a CloudEvent (``CloudEventsOptions``), in binary or structured mode
    /// (`?cloudevents=binary|structured&cloudevents-source=URI`); nil (the default) publishes the
    /// outbox's own headers.
    public var cloudEvents: CloudEventsOptions?


    /// How long a message may wait for the brokers' acknowledgement (all in-sync replicas) before it
    /// counts as failed and is retried by the relay (librdkafka's `message.timeout.ms`). Default 10 s.
    public var publishTimeout: Duration = .seconds(10)

    /// More librdkafka producer properties (security, compression, client id...), applied after the
    /// sink's own. The sink sets `enable.idempotence=true`, `acks=all` and `linger.ms=1`; overriding
    /// them weakens what the sink promises.
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String) { self.bootstrapServers = bootstrapServers }

    /// Parses `kafka://HOST:PORT[,HOST:PORT...][?topic=T&PROPERTY=VALUE...]`, the form the `outbox` tool
    /// takes; any option but `topic` is a librdkafka property (`security.protocol=ssl`,
    /// `ssl.ca.location=FILE`...).
    public init(parsing text: String) throws {
        let spec = try SinkSpec(text, schemes: ["kafka"], form: "kafka://HOST:PORT[,HOST:PORT][?topic=T]")
        try SinkSpec.checkHostsAndPorts(spec.address, what: "the Kafka sink")
        self.init(bootstrapServers: spec.address)
        let (cloudEvents, options) = try CloudEventsOptions.parse(spec.options)
        self.cloudEvents = cloudEvents
        for (name, value) in options {
            if name == "topic" { topic = value } else { properties[name] = value }
        }
        try Self.check(properties)
    }

    /// Refuses a property librdkafka does not know or a value it does not accept, before anything runs.
    static func check(_ properties: [String: String]) throws {
        guard let conf = rd_kafka_conf_new() else { return }
        defer { rd_kafka_conf_destroy(conf) }
        var text = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key })
        where rd_kafka_conf_set(conf, name, value, &text, text.count) != RD_KAFKA_CONF_OK {
            let reason = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw OutboxError(.invalidArgument, "Kafka property \(name)=\(shown(name, value)): \(reason)")
        }
    }

    /// A property's value as errors and logs show it: masked when the property holds a secret.
    static func shown(_ name: String, _ value: String) -> String {
        let lower = name.lowercased()
        return ["password", "secret", "token", "jaas", ".pem", "key"].contains { lower.contains($0) } && !lower.hasSuffix(".location") ? "***" : value
    }

    /// The topic, when it has no placeholders (so that it can be checked before the first message).
    var fixedTopic: String? { topic.contains("{type}") || topic.contains("{key}") ? nil : topic }

    /// The topic for `message`.
    func topic(for message: StoredMessage) -> String { topicTemplate.render(message) }

    /// ``topic``, parsed (a publisher keeps one: parsing it runs once, not per message).
    var topicTemplate: SinkTemplate {
        SinkTemplate(topic, outbox: outboxID) { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-")) }
    }
}
