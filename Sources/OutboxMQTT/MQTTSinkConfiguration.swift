import Foundation
import Outbox

/// Where and how ``MQTTSink`` publishes to an MQTT broker.
public struct MQTTSinkConfiguration: Sendable {
    /// The broker's host name or address.
    public var host: String
    /// The broker's port. Default 1883 (8883 for `mqtts://`).
    public var port: Int = 1883

    /// The user name and password to authenticate with, if the broker asks for them.
    public var username: String?
    public var password: String?

    /// TLS, when the broker requires it; with no CA file, the system's certificate authorities
    /// (`/etc/ssl/certs`) are used.
    public var tls: TLSFiles?

    /// The topic of each message. `{type}` is replaced by the message's type and `{key}` by its key
    /// (`_` when it has none); characters a topic level cannot hold (`/`, `+`, `#`) become `_`.
    /// Default `outbox/{type}`.
    public var topic: String = "outbox/{type}"
    /// The outbox's id, for `{outbox}` in the topic (`outbox relay` fills it in); a topic that names
    /// `{outbox}` without it is refused when the sink connects. `{host}` is this machine's host name.
    public var outboxID: OutboxID?

    /// Publish each message as a CloudEvent (``CloudEventsOptions``), in binary or structured mode
    /// (`?cloudevents=binary|structured&cloudevents-source=URI`); nil (the default) publishes the
    /// outbox's own headers.
    public var cloudEvents: CloudEventsOptions?


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

    /// Parses `mqtt://[USER:PASSWORD@]HOST[:PORT][?topic=T&qos=1|2&client-id=ID&ca=FILE&cert=FILE&key=FILE]`
    /// (or `mqtts://...` for TLS), the form the `outbox` tool takes.
    public init(parsing text: String) throws {
        let spec = try SinkSpec(text, schemes: ["mqtt", "mqtts"], form: "mqtt://HOST[:PORT][?topic=T&qos=1|2]")
        var address = Substring(spec.address)
        var credentials: (String, String?)?
        if let at = address.lastIndex(of: "@") {
            let userinfo = address[..<at].split(separator: ":", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            credentials = (userinfo.first ?? "", userinfo.count == 2 ? userinfo[1] : nil)
            address = address[address.index(after: at)...]
        }
        let (host, given) = try SinkSpec.hostAndPort(address, what: "the MQTT broker")
        let port = given ?? (spec.scheme == "mqtts" ? 8883 : 1883)
        self.init(host: host, port: port)
        (username, password) = (credentials?.0, credentials?.1)
        var tls = TLSFiles()
        let (cloudEvents, options) = try CloudEventsOptions.parse(spec.options)
        self.cloudEvents = cloudEvents
        for (name, value) in options {
            switch name {
            case "topic": topic = value
            case "client-id": clientID = value
            case "qos":
                guard let q = Int(value), q == 1 || q == 2 else {
                    throw OutboxError(.invalidArgument, "qos must be 1 or 2 (QoS 0 has no acknowledgement), not \(value)")
                }
                qos = q
            default:
                guard tls.apply(name, value) else { throw SinkSpec.unknown(name, known: "topic, qos, client-id, ca, cert, key, " + CloudEventsOptions.optionNames) }
            }
        }
        if tls != TLSFiles() || spec.scheme == "mqtts" { self.tls = try tls.validated() }
    }

    /// The topic for `message`.
    func topic(for message: StoredMessage) -> String { topicTemplate.render(message) }

    /// A subscription covering every topic the sink publishes to.
    var coveringFilter: String { topicTemplate.covering("+") }

    /// ``topic``, parsed (a publisher keeps one: parsing it runs once, not per message).
    var topicTemplate: SinkTemplate {
        SinkTemplate(topic, outbox: outboxID) { $0 == "/" || $0 == "+" || $0 == "#" }
    }
}
