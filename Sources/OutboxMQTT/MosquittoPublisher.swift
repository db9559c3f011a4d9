import CMosquitto
import Foundation
import Logging
import Outbox

/// The libmosquitto client behind ``MQTTSink``. Every call runs on the sink's dedicated thread, one at
/// a time; only ``MQTTSessionState`` is shared with the client's network thread.
final class MosquittoPublisher: BlockingBrokerClient, @unchecked Sendable {
    let configuration: MQTTSinkConfiguration
    /// How messages become CloudEvents, when they do.
    private let cloudEvents: CloudEventsForm?
    private let logger: Logger
    private let state = MQTTSessionState()
    /// Notified by the sink's ``ReconnectWatcher``: the sink makes a new connection at each probe rather
    /// than letting the client reconnect (and resend), so the client cannot tell.
    let availability = AvailabilityObserver()

    /// During an outage, a CONNACK on a connection of its own (``MQTTHandshake``).
    var reachabilityCheck: (@Sendable () -> any ReachabilityCheck)? {
        { [configuration] in MQTTHandshake(configuration: configuration) }
    }
    private var client: OpaquePointer?

    private static let libraryReady: Bool = mosquitto_lib_init() == success

    private let topics: SinkTemplate

    init(configuration: MQTTSinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        topics = configuration.topicTemplate
        cloudEvents = configuration.cloudEvents.map { CloudEventsForm($0, binding: .mqtt, outboxID: configuration.outboxID) }
        // A connection that drops says so at once (the relay shows the outage while idle).
        state.availability = availability
    }

    /// Connects unless connected. A connection the broker dropped is replaced by a new one, so that
    /// nothing left in flight on the old one is resent behind the relay's back.
    ///
    /// Throws ``OutboxError/Code/broker`` when the broker cannot be reached or answers "not now"
    /// (refused, no CONNACK in time, server busy or unavailable), and
    /// ``OutboxError/Code/invalidArgument`` when it refuses the client for good (bad user name or
    /// password, not authorized, client id or protocol refused, banned) or a TLS file cannot be used.
    func connect() throws {
        if client != nil, state.isConnected { return }
        close()
        if let problem = SinkTemplate.placeholderProblem(configuration.topic, outbox: configuration.outboxID) {
            throw OutboxError(.invalidArgument, "MQTT: \(problem)")
        }
        let c = try Self.newClient(configuration, clientID: configuration.clientID, state: state)
        let where_ = "\(configuration.host):\(configuration.port)"
        var rc = mosquitto_connect_bind_v5(c, configuration.host, Int32(configuration.port),
                                           Int32(configuration.keepAlive.components.seconds), nil, nil)
        if rc == success { rc = mosquitto_loop_start(c) }
        guard rc == success else {
            let text = Self.text(rc)
            mosquitto_destroy(c)
            throw OutboxError(rc == Int32(MOSQ_ERR_INVAL.rawValue) ? .invalidArgument : .broker, "MQTT: connecting to \(where_) failed: \(text)")
        }
        client = c
        switch state.waitForConnack(until: .now + configuration.connectTimeout) {
        case nil:
            let dropped = state.lastDropReason
            close()
            // A TLS handshake that failed (an untrusted certificate) will fail again, and a port that
            // answers MQTT without TLS is not a TLS port: that is the configuration, not an outage.
            if configuration.tls != nil, dropped == Int32(MOSQ_ERR_TLS.rawValue) {
                throw OutboxError(.invalidArgument, "MQTT: the TLS handshake with \(where_) failed (does the CA file trust its certificate?)")
            }
            if configuration.tls != nil {
                var plain = configuration
                plain.tls = nil
                // (Time enough on a loaded machine: taken for an outage, it would be waited out for ever.)
                if MQTTHandshake(configuration: plain).attempt(timeout: max(configuration.connectTimeout, .seconds(10))) {
                    throw OutboxError(.invalidArgument, "MQTT: \(where_) answers MQTT without TLS: mqtts:// names a plaintext port (use mqtt://, or the broker's TLS port)")
                }
            }
            throw OutboxError(.broker, "MQTT: no CONNACK from \(where_) within \(configuration.connectTimeout)"
                              + (dropped.map { " (the connection dropped: \(Self.text($0)))" } ?? ""))
        case let reason? where reason != 0:
            close()
            // 0x84 protocol, 0x85 client id, 0x86 user name or password, 0x87 not authorized, 0x8A banned,
            // 0x8C authentication method: waiting cannot fix these.
            let definite: Set<Int32> = [0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C]
            throw OutboxError(definite.contains(reason) ? .invalidArgument : .broker,
                              "MQTT: \(where_) refused the connection: \(String(cString: mosquitto_reason_string(reason))) (reason \(reason))")
        default:
            logger.info("connected to MQTT broker", metadata: ["broker": "\(where_)"])
        }
    }

    /// A client for `configuration` that reports to `state`: MQTT 5, no Nagle delay, credentials and TLS
    /// set, not connected yet. Throws ``OutboxError/Code/invalidArgument`` when a TLS file or the
    /// credentials cannot be used.
    static func newClient(_ configuration: MQTTSinkConfiguration, clientID: String, state: MQTTSessionState) throws -> OpaquePointer {
        guard libraryReady else { throw OutboxError(.broker, "MQTT: libmosquitto failed to initialise") }
        guard let c = mosquitto_new(clientID, true, Unmanaged.passUnretained(state).toOpaque()) else {
            throw OutboxError(.broker, "MQTT: cannot create a client (\(String(cString: strerror(errno))))")
        }
        mosquitto_int_option(c, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_int_option(c, MOSQ_OPT_TCP_NODELAY, 1)  // a round waits for acknowledgements: no Nagle delay
        mosquitto_connect_v5_callback_set(c, mqttOnConnect)
        mosquitto_disconnect_v5_callback_set(c, mqttOnDisconnect)
        mosquitto_publish_v5_callback_set(c, mqttOnPublish)
        state.reset()
        var rc = success
        if let user = configuration.username { rc = mosquitto_username_pw_set(c, user, configuration.password) }
        if rc == success, let tls = configuration.tls {
            rc = mosquitto_tls_set(c, tls.caFile, tls.caFile == nil ? "/etc/ssl/certs" : nil, tls.certificateFile, tls.keyFile, nil)
        }
        guard rc == success else {
            mosquitto_destroy(c)
            throw OutboxError(.invalidArgument, "MQTT: setting up the client for \(configuration.host):\(configuration.port) failed: \(text(rc))")
        }
        return c
    }

    /// Whether the client's network thread still holds the connection (MQTT keep-alive finds a dead
    /// one; a round that gets no acknowledgement in time drops it).
    func probe() -> String? {
        client != nil && state.isConnected ? nil : "MQTT: not connected to \(configuration.host):\(configuration.port)"
    }

    var displayName: String {
        "mqtt\(configuration.tls == nil ? "" : "s")://\(configuration.username.map { "\($0)@" } ?? "")\(configuration.host):\(configuration.port) (topic \(configuration.topic), qos \(configuration.qos))"
    }

    func close() {
        guard let c = client else { return }
        mosquitto_disconnect(c)
        mosquitto_loop_stop(c, true)
        mosquitto_destroy(c)
        client = nil
        state.reset()
    }

    /// Sends the round's messages, then waits for the broker's acknowledgements (PUBACK for QoS 1,
    /// PUBCOMP for QoS 2). MQTT has no broker-side deduplication: a message republished after a failure
    /// or a crash reaches subscribers again, with the same `outbox-id` user property to deduplicate on.
    func publishRound(_ round: [StoredMessage]) -> [PublishOutcome] {
        var outcomes: [PublishOutcome?] = []
        var ids: [Int32?] = []
        state.beginRound()
        for m in round {
            switch send(m) {
            case .success(let mid):
                ids.append(mid)
                outcomes.append(nil)
            case .failure(let failure):
                ids.append(nil)
                outcomes.append(failure.outcome)
            }
        }
        let waiting = Set(ids.compactMap { $0 })
        let acks = waiting.isEmpty ? [:] : state.waitForAcks(waiting, until: .now + configuration.publishTimeout)
        var timedOut = false
        let dropped = !state.isConnected
        for (i, mid) in ids.enumerated() {
            guard let mid else { continue }
            if let reason = acks[mid] {
                outcomes[i] = Self.outcome(reason: reason)
            } else {
                timedOut = true
                outcomes[i] = .unavailable(dropped ? "MQTT: the connection to \(configuration.host):\(configuration.port) dropped"
                                                   : "no acknowledgement from the MQTT broker within \(configuration.publishTimeout)")
            }
        }
        // Start over with a new connection rather than let the client resend what timed out.
        if timedOut { close() }
        return outcomes.map { $0! }
    }

    /// Hands one message to the client; its MQTT message id, or the outcome when it was not sent.
    private func send(_ m: StoredMessage) -> Result<Int32, PublishFailure> {
        guard let client else { return .failure(PublishFailure(.unavailable("MQTT: not connected"))) }
        var payload = m.message.payload
        var pairs: [(name: String, value: String)]
        var properties: OpaquePointer?
        defer { mosquitto_property_free_all(&properties) }
        if let cloudEvents {
            let event = cloudEvents.render(m)
            (pairs, payload) = (event.headers, event.payload)
            if let contentType = event.contentType {
                if contentType.contains("\0") {
                    return .failure(PublishFailure(.rejected("the content type holds a NUL character, which MQTT strings cannot carry")))
                }
                let rc = mosquitto_property_add_string(&properties, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), contentType)
                if rc != success { return .failure(PublishFailure(Self.outcome(rc: rc, "adding the content type"))) }
            }
        } else {
            pairs = BrokerMetadata.headers(m, idName: "outbox-id")
        }
        for (name, value) in pairs {
            if name.contains("\0") || value.contains("\0") {
                return .failure(PublishFailure(.rejected("header \(name.debugDescription) holds a NUL character, which MQTT strings cannot carry")))
            }
            let rc = mosquitto_property_add_string_pair(&properties, Int32(MQTT_PROP_USER_PROPERTY.rawValue), name, value)
            if rc != success { return .failure(PublishFailure(Self.outcome(rc: rc, "adding header \(name)"))) }
        }
        var mid: Int32 = 0
        let topic = topics.render(m)
        let rc = payload.withUnsafeBytes { payload in
            mosquitto_publish_v5(client, &mid, topic, Int32(payload.count), payload.baseAddress, Int32(configuration.qos), false, properties)
        }
        return rc == success ? .success(mid) : .failure(PublishFailure(Self.outcome(rc: rc, "publishing to \(topic)")))
    }

    /// The outcome an MQTT v5 reason code in a PUBACK or PUBREC/PUBCOMP means.
    static func outcome(reason: Int32) -> PublishOutcome {
        if reason < 0x80 { return .published }  // 0 success, 0x10 no matching subscribers
        let text = "the MQTT broker refused the message: \(String(cString: mosquitto_reason_string(reason))) (reason \(reason))"
        switch reason {
        case 0x87, 0x90, 0x95, 0x99: return .rejected(text)  // not authorized, topic name invalid, packet too large, payload format invalid
        case 0x88, 0x89, 0x97: return .unavailable(text)  // server unavailable, server busy, quota exceeded: try later
        default: return .failed(text)
        }
    }

    private static func outcome(rc: Int32, _ what: String) -> PublishOutcome {
        let text = "MQTT: \(what) failed: \(Self.text(rc))"
        switch rc {
        case Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue), Int32(MOSQ_ERR_OVERSIZE_PACKET.rawValue), Int32(MOSQ_ERR_MALFORMED_UTF8.rawValue):
            return .rejected(text)
        case Int32(MOSQ_ERR_NO_CONN.rawValue), Int32(MOSQ_ERR_CONN_LOST.rawValue), Int32(MOSQ_ERR_ERRNO.rawValue):
            return .unavailable(text)
        default:
            return .failed(text)
        }
    }

    static func text(_ rc: Int32) -> String {
        rc == Int32(MOSQ_ERR_ERRNO.rawValue) ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(rc))
    }
}

let success = Int32(MOSQ_ERR_SUCCESS.rawValue)
