import Outbox

/// Where and how ``KafkaSink`` publishes to Kafka.
public struct KafkaSinkConfiguration: Sendable {
    /// The bootstrap brokers, comma-separated `host:port` pairs.
    public var bootstrapServers: String

    /// The topic of each message. `{type}` is replaced by the message's type and `{key}` by its key
    /// (`_` when it has none); characters a topic name cannot hold (anything but letters, digits, `.`,
    /// `_` and `-`) become `_`. Default `outbox.{type}`.
    public var topic: String = "outbox.{type}"

    /// How long a message may wait for the brokers' acknowledgement (all in-sync replicas) before it
    /// counts as failed and is retried by the relay (librdkafka's `message.timeout.ms`). Default 10 s.
    public var publishTimeout: Duration = .seconds(10)

    /// More librdkafka producer properties (security, compression, client id...), applied after the
    /// sink's own. The sink sets `enable.idempotence=true`, `acks=all` and `linger.ms=1`; overriding
    /// them weakens what the sink promises.
    public var properties: [String: String] = [:]

    public init(bootstrapServers: String) { self.bootstrapServers = bootstrapServers }

    /// Parses `kafka://HOST:PORT[,HOST:PORT...][?topic=T]`, the form the `outbox` tool takes.
    public init(parsing spec: String) throws {
        guard spec.hasPrefix("kafka://") else {
            throw OutboxError(.invalidArgument, "a Kafka sink is kafka://HOST:PORT[,HOST:PORT][?topic=T], not \(spec)")
        }
        let parts = spec.dropFirst("kafka://".count).split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard !parts[0].isEmpty else { throw OutboxError(.invalidArgument, "the Kafka sink \(spec) names no broker") }
        self.init(bootstrapServers: String(parts[0]))
        guard parts.count == 2 else { return }
        for pair in parts[1].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw OutboxError(.invalidArgument, "Kafka sink option \(pair) has no value") }
            switch kv[0] {
            case "topic": topic = kv[1]
            default: throw OutboxError(.invalidArgument, "unknown Kafka sink option \(kv[0]) (topic)")
            }
        }
    }

    /// The topic for `message`.
    func topic(for message: StoredMessage) -> String { template.render(message) }

    private var template: SinkTemplate {
        SinkTemplate(topic) { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-")) }
    }
}
