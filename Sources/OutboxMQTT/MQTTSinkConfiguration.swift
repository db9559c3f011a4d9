import Foundation
import Outbox

/// Where and how ``MQTTSink`` publishes to an MQTT broker.
public struct MQTTSinkConfiguration: Sendable {
    /// The broker's host name or address.
    public var host: String
    /// The broker's port. Default 1883.
    public var port: Int = 1883

    /// The topic of each message. `{type}` is replaced by the message's type and `{key}` by its key
    /// (`_` when it has none); characters a topic level cannot hold (`/`, `+`, `#`) become `_`.
    /// Default `outbox/{type}`.
    public var topic: String = "outbox/{type}"

    /// 1 (at least once: published once the broker's PUBACK arrives) or 2 (exactly once between the
    /// sink and the broker: published once PUBCOMP arrives). QoS 0 has no acknowledgement, so the
    /// relay could not know a message arrived; it is refused.
    public var qos: Int = 1

    /// The MQTT client id. Default `outbox-relay-PID`.
    public var clientID: String = "outbox-relay-\(getpid())"

    /// The MQTT keep-alive interval. Default 30 s.
    public var keepAlive: Duration = .seconds(30)

    /// How long a publish waits for the broker's acknowledgement before it counts as failed (and is
    /// retried by the relay). Default 5 s.
    public var publishTimeout: Duration = .seconds(5)

    /// How long connecting (until the broker's CONNACK) may take. Default 2 s.
    public var connectTimeout: Duration = .seconds(2)

    public init(host: String, port: Int = 1883) {
        self.host = host
        self.port = port
    }

    /// Parses `mqtt://HOST[:PORT][?topic=T&qos=1|2&client-id=ID]`, the form the `outbox` tool takes.
    public init(parsing spec: String) throws {
        guard spec.hasPrefix("mqtt://") else {
            throw OutboxError(.invalidArgument, "an MQTT sink is mqtt://HOST[:PORT][?topic=T&qos=1|2], not \(spec)")
        }
        let parts = spec.dropFirst("mqtt://".count).split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let address = parts[0]
        var host = String(address)
        var port = 1883
        if let colon = address.lastIndex(of: ":") {
            guard let p = Int(address[address.index(after: colon)...]), (1...65535).contains(p) else {
                throw OutboxError(.invalidArgument, "the MQTT port in \(spec) is not a port number")
            }
            host = String(address[..<colon])
            port = p
        }
        guard !host.isEmpty else { throw OutboxError(.invalidArgument, "the MQTT sink \(spec) has no host") }
        self.init(host: host, port: port)
        guard parts.count == 2 else { return }
        for pair in parts[1].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw OutboxError(.invalidArgument, "MQTT sink option \(pair) has no value") }
            switch kv[0] {
            case "topic": topic = kv[1]
            case "client-id": clientID = kv[1]
            case "qos":
                guard let q = Int(kv[1]), q == 1 || q == 2 else {
                    throw OutboxError(.invalidArgument, "qos must be 1 or 2 (QoS 0 has no acknowledgement), not \(kv[1])")
                }
                qos = q
            default: throw OutboxError(.invalidArgument, "unknown MQTT sink option \(kv[0]) (topic, qos, client-id)")
            }
        }
    }

    /// The topic for `message`.
    func topic(for message: StoredMessage) -> String { template.render(message) }

    /// A subscription covering every topic the sink publishes to.
    var coveringFilter: String { template.covering("+") }

    private var template: SinkTemplate {
        SinkTemplate(topic) { $0 == "/" || $0 == "+" || $0 == "#" }
    }
}
