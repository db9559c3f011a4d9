import CNats
import Foundation
import Outbox
@_exported import OutboxTestSupport

/// A `nats-server` with JetStream on a free loopback port and a temporary store directory.
/// `scripts/test` starts one for the whole run (`OUTBOX_NATS_URL`); tests that take a server down
/// start their own.
public final class NATSServer: @unchecked Sendable {
    public let storeDir = TemporaryDirectory("outbox-nats")
    public let broker: BrokerProcess

    public var url: String { "nats://127.0.0.1:\(broker.port)" }

    public init(extraArguments: [String] = []) throws {
        let port = try freeLoopbackPort()
        broker = try BrokerProcess("nats-server", candidates: ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"],
                                   arguments: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir.path] + extraArguments, port: port)
    }
}

/// The server the run shares: `OUTBOX_NATS_URL` when set (scripts/test sets it), else one started for
/// this process.
public let sharedNATSURL: String = {
    if let url = ProcessInfo.processInfo.environment["OUTBOX_NATS_URL"], !url.isEmpty { return url }
    guard let server = try? NATSServer() else { return "nats://127.0.0.1:1" }
    privateServer = server
    return server.url
}()
nonisolated(unsafe) private var privateServer: NATSServer?

/// A stream name and subject template no other test uses.
public func uniqueStream(_ tag: String) -> (stream: String, subject: String) {
    let n = UInt32.random(in: 0...UInt32.max)
    return ("T\(tag.uppercased())\(n)", "t\(tag.lowercased())\(n).{type}")
}
