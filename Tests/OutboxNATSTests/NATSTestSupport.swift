import CNats
import Foundation
import Logging
import Outbox
@testable import OutboxNATS
import Testing

let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A private temporary directory, removed at deinit.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String
    init() {
        var template = Array((NSTemporaryDirectory() + "/outbox-nats-test-XXXXXX").utf8CString)
        path = String(cString: mkdtemp(&template)!)
    }
    func sub(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A `nats-server` with JetStream on a free loopback port and a temporary store directory, killed at
/// ``stop()`` or deinit. `scripts/test` starts one for the whole run (`OUTBOX_NATS_URL`); tests that
/// need to take a server down start their own.
final class NATSServer: @unchecked Sendable {
    let port: Int
    let storeDir: TemporaryDirectory
    private var process: Process?

    var url: String { "nats://127.0.0.1:\(port)" }

    init(port: Int? = nil) throws {
        self.port = try port ?? freeLoopbackPort()
        storeDir = TemporaryDirectory()
        try start()
    }

    func start() throws {
        guard let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw OutboxError(.invalidArgument, "nats-server is not installed: run scripts/install-deps (Debian nats-server)")
        }
        // A shell runs the server and kills it (SIGKILL) when told to (SIGTERM) or when this test
        // process is gone, so that no server outlives the tests, even after a crash.
        let script = """
            "$0" "$@" & s=$!
            trap 'kill -9 $s; wait $s; exit 0' TERM
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.1; done
            kill -9 $s 2>/dev/null; wait $s
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, binary, "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir.path]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(10)
        while !canConnect(port) {
            guard Date() < deadline, p.isRunning else { throw OutboxError(.broker, "nats-server did not start on port \(port)") }
            usleep(20_000)
        }
    }

    /// Kills the server (SIGKILL, within 0.1 s) and waits for it to be gone.
    func kill() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    deinit { kill() }
}

/// The server the run shares: `OUTBOX_NATS_URL` when set (scripts/test sets it), else one started for
/// this process.
let sharedNATSURL: String = {
    if let url = ProcessInfo.processInfo.environment["OUTBOX_NATS_URL"], !url.isEmpty { return url }
    do {
        let server = try NATSServer()
        privateServer = server
        return server.url
    } catch {
        return "nats://127.0.0.1:1"
    }
}()
nonisolated(unsafe) private var privateServer: NATSServer?

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw OutboxError(.io, "cannot find a free loopback port", errno: errno) }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

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

/// Waits until `condition` holds, checking every few milliseconds, or fails after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    Issue.record("timed out after \(timeout) waiting for: \(what)")
    throw CancellationError()
}

/// Runs blocking work on a thread of its own, off the cooperative pool.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// True when, for every key, the sequence numbers appear in increasing order.
func perKeyOrderHolds(_ records: [(key: String?, seq: UInt64)]) -> Bool {
    var last: [String: UInt64] = [:]
    for r in records {
        guard let k = r.key else { continue }
        if let previous = last[k], previous >= r.seq { return false }
        last[k] = r.seq
    }
    return true
}

func stored(_ seq: UInt64, key: String?, type: String = "TestEvent", headers: [OutboxMessage.Header] = [], payload: [UInt8]? = nil) -> StoredMessage {
    let message = OutboxMessage(type: type, key: key, headers: headers, payload: payload ?? Array("payload \(seq)".utf8))
    return StoredMessage(seq: seq, message: message, segment: "test", offset: 0, compressed: false)
}
