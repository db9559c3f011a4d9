import Foundation
import Outbox
@_exported import OutboxTestSupport

/// A `mosquitto` broker on a free loopback port. `scripts/test` starts one for the whole run
/// (`OUTBOX_MQTT_URL`); tests that take a broker down start their own, saving its state at every change
/// so that a subscriber's session and the messages queued for it survive a kill. Like most brokers in
/// the field, it runs with mosquitto's default of Nagle's algorithm on (no `set_tcp_nodelay`).
public final class MosquittoBroker: @unchecked Sendable {
    public let dir = TemporaryDirectory("outbox-mqtt")
    public let broker: BrokerProcess

    public var url: String { "mqtt://127.0.0.1:\(broker.port)" }

    /// `settings` are more lines for mosquitto.conf (they may use `\(dir.path)`); `allow_anonymous` is
    /// true unless they set it.
    public init(settings: [String] = []) throws {
        let port = try freeLoopbackPort()
        let anonymous = settings.contains { $0.hasPrefix("allow_anonymous") } ? [] : ["allow_anonymous true"]
        let config = (["listener \(port) 127.0.0.1"] + settings + anonymous + [
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
    public static func passwordFile(_ user: String, _ password: String, in dir: TemporaryDirectory) throws -> String {
        let path = dir.sub("passwords")
        let p = ChildProcess()
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
public let sharedMQTTURL: String = {
    if let url = ProcessInfo.processInfo.environment["OUTBOX_MQTT_URL"], !url.isEmpty { return url }
    guard let broker = try? MosquittoBroker() else { return "mqtt://127.0.0.1:1" }
    privateBroker = broker
    return broker.url
}()
nonisolated(unsafe) private var privateBroker: MosquittoBroker?

/// A topic template no other test uses.
public func uniqueTopic(_ tag: String) -> String {
    "test/\(tag)/\(UInt32.random(in: 0...UInt32.max))/{type}"
}
