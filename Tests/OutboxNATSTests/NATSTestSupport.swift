import CNats
import Foundation
import Logging
import Outbox
@_exported import OutboxTestSupport
@testable import OutboxNATS
import Testing

/// A `nats-server` with JetStream on a free loopback port and a temporary store directory.
/// `scripts/test` starts one for the whole run (`OUTBOX_NATS_URL`); tests that take a server down
/// start their own.
final class NATSServer: @unchecked Sendable {
    let storeDir = TemporaryDirectory("outbox-nats")
    let broker: BrokerProcess

    var url: String { "nats://127.0.0.1:\(broker.port)" }

    init(extraArguments: [String] = []) throws {
        let port = try freeLoopbackPort()
        broker = try BrokerProcess("nats-server", candidates: ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"],
                                   arguments: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir.path] + extraArguments, port: port)
    }
}

/// The server the run shares: `OUTBOX_NATS_URL` when set (scripts/test sets it), else one started for
/// this process.
let sharedNATSURL: String = {
    if let url = ProcessInfo.processInfo.environment["OUTBOX_NATS_URL"], !url.isEmpty { return url }
    guard let server = try? NATSServer() else { return "nats://127.0.0.1:1" }
    privateServer = server
    return server.url
}()
nonisolated(unsafe) private var privateServer: NATSServer?

/// A stream name and subject template no other test uses.
func uniqueStream(_ tag: String) -> (stream: String, subject: String) {
    let n = UInt32.random(in: 0...UInt32.max)
    return ("T\(tag.uppercased())\(n)", "t\(tag.lowercased())\(n).{type}")
}

/// One message as JetStream stored it.
struct StoredInStream {
    var subject: String
    var headers: [String: String]
    var data: [UInt8]
    var seq: UInt64? { headers["Outbox-Seq"].flatMap(UInt64.init) }
}

/// Reads a stream back through the NATS C client, to check what the sink stored.
final class JetStreamProbe: @unchecked Sendable {
    private var connection: OpaquePointer?
    private var js: OpaquePointer?

    init(url: String) throws {
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
    func count(_ stream: String) -> UInt64 {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        guard js_GetStreamInfo(&info, js, stream, nil, &code) == NATS_OK, let info else { return 0 }
        defer { jsStreamInfo_Destroy(info) }
        return info.pointee.State.Msgs
    }

    /// Every message of the stream, in stream order.
    func messages(_ stream: String) -> [StoredInStream] {
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
