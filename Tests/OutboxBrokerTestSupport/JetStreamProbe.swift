import CNats
import Foundation
import Outbox

/// One message as JetStream stored it.
public struct StoredInStream: Sendable {
    public var subject: String
    public var headers: [String: String]
    public var data: [UInt8]
    public var seq: UInt64? { headers["Outbox-Seq"].flatMap(UInt64.init) }
}

/// Reads a stream back through the NATS C client, to check what the sink stored.
public final class JetStreamProbe: @unchecked Sendable {
    private var connection: OpaquePointer?
    private var js: OpaquePointer?

    public init(url: String) throws {
        guard natsConnection_ConnectTo(&connection, url) == NATS_OK,
              natsConnection_JetStream(&js, connection, nil) == NATS_OK else {
            throw OutboxError(.broker, "the probe cannot connect to \(url)")
        }
    }

    deinit {
        if let js { jsCtx_Destroy(js) }
        if let connection { natsConnection_Destroy(connection) }
    }

    /// How many messages the stream holds (0 when it does not exist).
    public func count(_ stream: String) -> UInt64 {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        guard js_GetStreamInfo(&info, js, stream, nil, &code) == NATS_OK, let info else { return 0 }
        defer { jsStreamInfo_Destroy(info) }
        return info.pointee.State.Msgs
    }

    /// Every message of the stream, in stream order.
    public func messages(_ stream: String) -> [StoredInStream] {
        var out: [StoredInStream] = []
        var seq: UInt64 = 1
        let total = count(stream)
        while out.count < total && seq <= total + 1000 {
            defer { seq += 1 }
            var msg: OpaquePointer?
            var code = jsErrCode(0)
            guard js_GetMsg(&msg, js, stream, seq, nil, &code) == NATS_OK, let msg else { continue }
            defer { natsMsg_Destroy(msg) }
            var headers: [String: String] = [:]
            var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            var n: Int32 = 0
            if natsMsgHeader_Keys(msg, &keys, &n) == NATS_OK, let keys {
                for i in 0..<Int(n) {
                    guard let k = keys[i] else { continue }
                    var value: UnsafePointer<CChar>?
                    if natsMsgHeader_Get(msg, k, &value) == NATS_OK, let value { headers[String(cString: k)] = String(cString: value) }
                }
                free(keys)
            }
            let length = Int(natsMsg_GetDataLength(msg))
            let data = natsMsg_GetData(msg).map { p in p.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) } } ?? []
            out.append(StoredInStream(subject: String(cString: natsMsg_GetSubject(msg)), headers: headers, data: data))
        }
        return out
    }
}
