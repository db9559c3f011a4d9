import CMosquitto
import Foundation
import Outbox
import OutboxMQTT

/// One message as a subscriber received it.
public struct Received: Sendable {
    public var topic: String
    public var properties: [String: String]
    public var payload: [UInt8]
    /// The Content Type property, if the message had one.
    public var contentType: String?
    /// When the probe received it.
    public var arrived: ContinuousClock.Instant
    public var seq: UInt64? { properties["outbox-seq"].flatMap(UInt64.init) ?? UInt64(String(decoding: payload, as: UTF8.self)) }
}

/// A subscriber (QoS 1, MQTT 5, so that it sees user properties) that records what it receives. With
/// `persistentSession` its session is kept (clean start off, a session expiry interval): the broker
/// queues for it while it is away, across a broker restart.
public final class MQTTProbe: @unchecked Sendable {
    private let condition = NSCondition()
    private var messages: [Received] = []
    private var subscribed = false
    /// How many CONNACKs arrived, and the last one's reason code (for a probe that never subscribes).
    private var connacks = 0
    private var lastConnackCode: Int32?
    private var client: OpaquePointer?
    public let filter: String

    public init(url: String, filter: String, persistentSession: Bool = false) throws {
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
        // Generous: at the start of a full run every suite starts at once on two cores, and a broker may
        // take many seconds to answer (the wait ends as soon as it does). A subscription that goes
        // unanswered for 10 s on a connected client is sent again.
        let deadline = Date().addingTimeInterval(60)
        var again = Date().addingTimeInterval(10)
        while !subscribed {
            if condition.wait(until: min(deadline, again)) { continue }
            if Date() >= deadline {
                throw OutboxError(.broker, "the probe's subscription was not acknowledged within 60 s (\(connacks) CONNACK(s)"
                                    + (lastConnackCode.map { ", the last with code \($0)" } ?? "")
                                    + "; the broker's port \(canConnect(c.port) ? "accepts" : "refuses") connections now)")
            }
            if lastConnackCode == 0 {
                // Not under the lock: the client's thread takes it in its callbacks.
                condition.unlock()
                mosquitto_subscribe_v5(client, nil, filter, 1, 0, nil)
                condition.lock()
            }
            again = Date().addingTimeInterval(10)
        }
    }

    deinit {
        if let client {
            mosquitto_disconnect(client)
            mosquitto_loop_stop(client, true)
            mosquitto_destroy(client)
        }
    }

    public var received: [Received] {
        condition.lock()
        defer { condition.unlock() }
        return messages
    }

    /// What arrived after the first `count` messages (for a caller polling often).
    public func received(after count: Int) -> ArraySlice<Received> {
        condition.lock()
        defer { condition.unlock() }
        return messages[min(count, messages.count)...]
    }

    fileprivate func onConnect(_ code: Int32) {
        condition.lock()
        (connacks, lastConnackCode) = (connacks + 1, code)
        condition.unlock()
        if code == 0 { mosquitto_subscribe_v5(client, nil, filter, 1, 0, nil) }
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
        var type: UnsafeMutablePointer<CChar>?
        var contentType: String?
        if mosquitto_property_read_string(props, Int32(MQTT_PROP_CONTENT_TYPE.rawValue), &type, false) != nil, let type {
            contentType = String(cString: type)
            free(type)
        }
        let length = Int(m.pointee.payloadlen)
        let payload = m.pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
        let r = Received(topic: String(cString: m.pointee.topic), properties: properties, payload: payload, contentType: contentType, arrived: .now)
        condition.lock()
        messages.append(r)
        condition.unlock()
    }
}

private func probe(_ obj: UnsafeMutableRawPointer?) -> MQTTProbe? {
    obj.map { Unmanaged<MQTTProbe>.fromOpaque($0).takeUnretainedValue() }
}

private let probeOnConnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = { _, obj, rc, _, _ in
    probe(obj)?.onConnect(rc)
}

private let probeOnSubscribe: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, UnsafePointer<Int32>?, OpaquePointer?) -> Void = { _, obj, _, _, _, _ in
    probe(obj)?.onSubscribe()
}

private let probeOnMessage: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafePointer<mosquitto_message>?, OpaquePointer?) -> Void = { _, obj, m, props in
    if let m { probe(obj)?.onMessage(m, props) }
}
