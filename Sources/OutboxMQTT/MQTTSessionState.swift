import CMosquitto
import Foundation
import Logging
import Outbox

/// What the client's network thread reports: the CONNACK, disconnections, and acknowledgements by MQTT
/// message id.
final class MQTTSessionState: @unchecked Sendable {
    private let condition = NSCondition()
    private var connack: Int32?
    private var connected = false
    private var acks: [Int32: Int32] = [:]
    /// Told when an established connection is lost (not when the client disconnects on purpose).
    var availability: AvailabilityObserver?
    /// Why the network thread last dropped the connection (libmosquitto's error code), since ``reset()``.
    private var dropReason: Int32?

    var lastDropReason: Int32? {
        condition.lock()
        defer { condition.unlock() }
        return dropReason
    }

    var isConnected: Bool {
        condition.lock()
        defer { condition.unlock() }
        return connected
    }

    func reset() {
        condition.lock()
        connack = nil
        connected = false
        dropReason = nil
        acks = [:]
        condition.unlock()
    }

    func beginRound() {
        condition.lock()
        acks = [:]
        condition.unlock()
    }

    func connected(_ reason: Int32) {
        condition.lock()
        connack = reason
        connected = reason == 0
        condition.broadcast()
        condition.unlock()
    }

    /// The connection ended: `reason` 0 when the client disconnected on purpose.
    func disconnected(_ reason: Int32) {
        condition.lock()
        let was = connected
        connected = false
        if reason != 0 { dropReason = reason }
        condition.broadcast()
        condition.unlock()
        if was, reason != 0 { availability?.notify(.unavailable("MQTT: the connection to the broker was lost (reason \(reason)); the client is reconnecting")) }
    }

    func acknowledged(_ mid: Int32, reason: Int32) {
        condition.lock()
        acks[mid] = reason
        condition.broadcast()
        condition.unlock()
    }

    /// The CONNACK's reason code, or nil if none came by `deadline`.
    func waitForConnack(until deadline: ContinuousClock.Instant) -> Int32? {
        condition.lock()
        defer { condition.unlock() }
        while connack == nil {
            guard wait(until: deadline) else { break }
        }
        return connack
    }

    /// The reason codes of the acknowledgements of `mids` that came by `deadline` (or until the
    /// connection dropped).
    func waitForAcks(_ mids: Set<Int32>, until deadline: ContinuousClock.Instant) -> [Int32: Int32] {
        condition.lock()
        defer { condition.unlock() }
        while connected, !mids.isSubset(of: acks.keys) {
            guard wait(until: deadline) else { break }
        }
        return acks.filter { mids.contains($0.key) }
    }

    /// Waits for a signal; false once `deadline` has passed.
    private func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let left = deadline - .now
        guard left > .zero else { return false }
        let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18
        _ = condition.wait(until: Date().addingTimeInterval(seconds))
        return true
    }
}

private func state(_ obj: UnsafeMutableRawPointer?) -> MQTTSessionState? {
    obj.map { Unmanaged<MQTTSessionState>.fromOpaque($0).takeUnretainedValue() }
}

let mqttOnConnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = { _, obj, reason, _, _ in
    state(obj)?.connected(reason)
}

let mqttOnDisconnect: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, OpaquePointer?) -> Void = { _, obj, reason, _ in
    state(obj)?.disconnected(reason)
}

/// An acknowledgement arrived (on the client's loop thread). The socket is put back in quick-ACK mode:
/// a broker that leaves Nagle's algorithm on (mosquitto's default, `set_tcp_nodelay false`) holds its
/// next PUBACK until our ACK of the last one, which delayed ACKs hold up to 40 ms; a round then took
/// a few messages per 40 ms (170 messages a second where 20,000 go through with quick ACKs).
let mqttOnPublish: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, Int32, Int32, OpaquePointer?) -> Void = { mosq, obj, mid, reason, _ in
    var one: Int32 = 1
    let fd = mosquitto_socket(mosq)
    if fd >= 0 { setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size)) }
    state(obj)?.acknowledged(mid, reason: reason)
}
