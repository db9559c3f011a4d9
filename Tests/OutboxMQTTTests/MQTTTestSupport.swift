import CMosquitto
import Foundation
import Outbox
@testable import OutboxMQTT
@_exported import OutboxTestSupport
import Testing

/// A `mosquitto` broker on a free loopback port. `scripts/test` starts one for the whole run
/// (`OUTBOX_MQTT_URL`); tests that take a broker down start their own, saving its state at every change
/// so that a subscriber's session and the messages queued for it survive a kill.
final class MosquittoBroker: @unchecked Sendable {
    let dir = TemporaryDirectory("outbox-mqtt")
    let broker: BrokerProcess

    var url: String { "mqtt://127.0.0.1:\(broker.port)" }

    /// `settings` are more lines for mosquitto.conf (they may use `\(dir.path)`); `allow_anonymous` is
    /// true unless they set it.
    init(settings: [String] = []) throws {
        let port = try freeLoopbackPort()
        let anonymous = settings.contains { $0.hasPrefix("allow_anonymous") } ? [] : ["allow_anonymous true"]
        let config = (["listener \(port) 127.0.0.1"] + settings + anonymous + [
            "set_tcp_nodelay true",
            "persistence true",
            "persistence_location \(dir.path)/",
            "autosave_on_changes true",
            "autosave_interval 1",
            "user \(ProcessInfo.processInfo.userName)",
        ]).joined(separator: "\n") + "\n"
        try config.write(toFile: dir.sub("mosquitto.conf"), atomically: true, encoding: .utf8)
        broker = try BrokerProcess("mosquitto", candidates: ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"],
                                   arguments: ["-c", dir.sub("mosquitto.conf")], port: port)
    }

    /// A password file for mosquitto holding `user` with `password`.
    static func passwordFile(_ user: String, _ password: String, in dir: TemporaryDirectory) throws -> String {
        let path = dir.sub("passwords")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_passwd")
        p.arguments = ["-c", "-b", path, user, password]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw OutboxError(.invalidArgument, "mosquitto_passwd failed") }
        return path
    }
}

/// The broker the run shares: `OUTBOX_MQTT_URL` when set (scripts/test sets it), else one started for
/// this process.
let sharedMQTTURL: String = {
    if let url = ProcessInfo.processInfo.environment["OUTBOX_MQTT_URL"], !url.isEmpty { return url }
    guard let broker = try? MosquittoBroker() else { return "mqtt://127.0.0.1:1" }
    privateBroker = broker
    return broker.url
}()
nonisolated(unsafe) private var privateBroker: MosquittoBroker?

/// A topic template no other test uses.
func uniqueTopic(_ tag: String) -> String {
    "test/\(tag)/\(UInt32.random(in: 0...UInt32.max))/{type}"
}

/// One message as a subscriber received it.
struct Received: Sendable {
    var topic: String
    var properties: [String: String]
    var payload: [UInt8]
    var seq: UInt64? { properties["outbox-seq"].flatMap(UInt64.init) ?? UInt64(String(decoding: payload, as: UTF8.self)) }
}

/// A subscriber (QoS 1, MQTT 5, so that it sees user properties) that records what it receives. With
/// `persistentSession` its session is kept (clean start off, a session expiry interval): the broker
/// queues for it while it is away, across a broker restart.
final class MQTTProbe: @unchecked Sendable {
    private let condition = NSCondition()
    private var messages: [Received] = []
    private var subscribed = false
    private var client: OpaquePointer?
    let filter: String

    init(url: String, filter: String, persistentSession: Bool = false) throws {
        let c = try MQTTSinkConfiguration(parsing: url)
        self.filter = filter
        mosquitto_lib_init()
        let id = "probe-\(UInt32.random(in: 0...UInt32.max))"
        guard let client = mosquitto_new(id, !persistentSession, Unmanaged.passUnretained(self).toOpaque()) else {
            throw OutboxError(.broker, "cannot create the probe client")
        }
        self.client = client
        mosquitto_int_option(client, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_connect_v5_callback_set(client, probeOnConnect)
        mosquitto_subscribe_v5_callback_set(client, probeOnSubscribe)
        mosquitto_message_v5_callback_set(client, probeOnMessage)
        mosquitto_reconnect_delay_set(client, 1, 1, false)
        // A kept MQTT 5 session: clean start off and a session expiry interval (libmosquitto sends the
        // same CONNECT properties when its loop reconnects).
        var properties: OpaquePointer?
        defer { mosquitto_property_free_all(&properties) }
        if persistentSession {
            mosquitto_property_add_int32(&properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), 3600)
        }
        guard mosquitto_connect_bind_v5(client, c.host, Int32(c.port), 30, nil, properties) == 0, mosquitto_loop_start(client) == 0 else {
            throw OutboxError(.broker, "the probe cannot connect to \(url)")
        }
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(10)
        while !subscribed {
            guard condition.wait(until: deadline) else { throw OutboxError(.broker, "the probe's subscription was not acknowledged") }
        }
    }

    deinit {
        if let client {
            mosquitto_disconnect(client)
            mosquitto_loop_stop(client, true)
            mosquitto_destroy(client)
        }
    }

    var received: [Received] {
        condition.lock()
        defer { condition.unlock() }
        return messages
    }

    fileprivate func onConnect() {
        mosquitto_subscribe_v5(client, nil, filter, 1, 0, nil)
    }

    fileprivate func onSubscribe() {
        condition.lock()
        subscribed = true
        condition.broadcast()
        condition.unlock()
    }

    fileprivate func onMessage(_ m: UnsafePointer<mosquitto_message>, _ props: OpaquePointer?) {
        var properties: [String: String] = [:]
        var name: UnsafeMutablePointer<CChar>?
        var value: UnsafeMutablePointer<CChar>?
        var p = mosquitto_property_read_string_pair(props, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, false)
        while p != nil {
            if let name, let value { properties[String(cString: name)] = String(cString: value) }
            free(name)
            free(value)
            p = mosquitto_property_read_string_pair(p, Int32(MQTT_PROP_USER_PROPERTY.rawValue), &name, &value, true)
        }
        let length = Int(m.pointee.payloadlen)
        let payload = m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
        let r = Received(topic: String(cString: m.pointee.topic), properties: properties, payload: payload)
        condition.lock()
        messages.append(r)
        condition.unlock()
    }
}

private func probe(_ obj: UnsafeMutableRawPointer?) -> MQTTProbe? {
    obj.map { Unmanaged<MQTTProbe>.fromOpaque($0).takeUnretainedValue() }
}

private let probeOnConnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = { _, obj, rc, _, _ in
    if rc == 0 { probe(obj)?.onConnect() }
}

private let probeOnSubscribe: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, UnsafePointer<Int32>?, OpaquePointer?) -> Void = { _, obj, _, _, _, _ in
    probe(obj)?.onSubscribe()
}

private let probeOnMessage: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafePointer<mosquitto_message>?, OpaquePointer?) -> Void = { _, obj, m, props in
    if let m { probe(obj)?.onMessage(m, props) }
}
