import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Outbox
import Prometheus

/// The relay's HTTP endpoints (`outbox relay --metrics HOST:PORT`), on swift-nio:
/// - `GET /metrics`: every metric of the process in the Prometheus text format;
/// - `GET /healthz`: 200 while the relay is active and its sink reachable (or unreachable for less than
///   the oldest pending message may wait, `--unhealthy-after`), or a standby; 503 otherwise. The body is
///   one line saying which. With several routes, each route whose sink is away is named and judged by
///   its own oldest pending message.
/// Reading the outbox for `/healthz` runs off the event loop.
final class RelayEndpoints: Sendable {
    let registry: PrometheusCollectorRegistry
    let relay: OutboxRelay
    let path: String
    let unhealthyAfter: Double
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// The bound address (`127.0.0.1:PORT`; with port 0 the one the system chose).
    var address: String { channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?" }

    init(host: String, port: Int, registry: PrometheusCollectorRegistry, relay: OutboxRelay, path: String, keys: OutboxKeys?,
         unhealthyAfter: Double) async throws {
        self.registry = registry
        self.relay = relay
        self.path = path
        self.unhealthyAfter = unhealthyAfter
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        let box = HandlerContext(registry: registry, health: { [relay, path, keys, unhealthyAfter] in
            await Self.health(relay: relay, path: path, keys: keys, unhealthyAfter: unhealthyAfter)
        })
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(EndpointHandler(context: box))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            // The system's words for it (address in use, not an address of this machine), not NIO's call.
            let why = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
            throw OutboxError(.io, "cannot serve --metrics on \(host):\(port): \(why)")
        }
    }

    func close() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    /// The status and one-line reason `/healthz` answers (an encrypted outbox's ages are read with the
    /// relay's keys: without them, an unreachable sink could never be judged late).
    static func health(relay: OutboxRelay, path: String, keys: OutboxKeys?, unhealthyAfter: Double) async -> (ok: Bool, reason: String) {
        switch relay.status {
        case .starting: return (false, "starting")
        case .stopped: return (false, "stopped")
        case .standby: return (true, "standby: another relay is active")
        case .active(sinkReachable: true): return (true, "ok: active, sink reachable")
        case .misconfigured(let why): return (false, "sink misconfigured: \(why)")
        case .active(sinkReachable: false):
            // Several routes: each route whose sink is away, judged by its own oldest pending message.
            if let routes = (try? await onDedicatedThread("outbox-healthz") { try OutboxReader(path: path, keys: keys).unreachableRoutes() }) ?? nil {
                let judged = routes.map { r in (r.name, r.oldestAgeSeconds ?? 0) }
                let late = judged.filter { $0.1 >= unhealthyAfter }
                func say(_ routes: [(String, Double)]) -> String {
                    routes.map { "route \($0.0): sink unreachable, oldest pending \(Int($0.1)) s old" }.joined(separator: "; ")
                }
                return late.isEmpty ? (true, "ok: \(say(judged)) (unhealthy after \(Int(unhealthyAfter)) s)")
                    : (false, "\(say(late)) (more than \(Int(unhealthyAfter)) s)")
            }
            let age = try? await onDedicatedThread("outbox-healthz") { try OutboxReader(path: path, keys: keys).stats().oldestPendingAgeSeconds }
            let oldest = (age ?? nil) ?? 0
            if oldest < unhealthyAfter {
                return (true, String(format: "ok: sink unreachable, oldest pending %.0f s old (unhealthy after %.0f s)", oldest, unhealthyAfter))
            }
            return (false, String(format: "sink unreachable and the oldest pending message is %.0f s old (more than %.0f s)", oldest, unhealthyAfter))
        }
    }
}

/// What the handler needs, shared by every connection.
private struct HandlerContext: Sendable {
    let registry: PrometheusCollectorRegistry
    let health: @Sendable () async -> (ok: Bool, reason: String)
}

/// Answers `GET /metrics`, `GET /healthz`, and 404 for anything else; one request at a time per connection.
private final class EndpointHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let context: HandlerContext
    private var head: HTTPRequestHead?

    init(context: HandlerContext) { self.context = context }

    func channelRead(context ctx: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            let keepAlive = head.isKeepAlive
            let loop = ctx.eventLoop
            let channel = ctx.channel
            switch (head.method, path) {
            case (.GET, "/metrics"):
                let body = context.registry.emitToString()
                respond(channel, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8", body: body, keepAlive: keepAlive)
            case (.GET, "/healthz"):
                let health = context.health
                Task {
                    let (ok, reason) = await health()
                    loop.execute {
                        self.respond(channel, status: ok ? .ok : .serviceUnavailable, type: "text/plain; charset=utf-8",
                                     body: reason + "\n", keepAlive: keepAlive)
                    }
                }
            case (_, "/metrics"), (_, "/healthz"):
                respond(channel, status: .methodNotAllowed, type: "text/plain; charset=utf-8", body: "method not allowed: use GET\n",
                        keepAlive: keepAlive, allow: "GET")
            default:
                respond(channel, status: .notFound, type: "text/plain; charset=utf-8", body: "not found: try /metrics or /healthz\n",
                        keepAlive: keepAlive)
            }
        }
    }

    private func respond(_ channel: any Channel, status: HTTPResponseStatus, type: String, body: String, keepAlive: Bool, allow: String? = nil) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        if let allow { headers.add(name: "Allow", value: allow) }
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(string: body))), promise: nil)
        let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
        if !keepAlive { done.whenComplete { _ in channel.close(promise: nil) } }
    }
}
