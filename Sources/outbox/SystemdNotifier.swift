#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Outbox

/// The systemd notification protocol (`sd_notify`), for `Type=notify` units: datagrams to the unix socket
/// `NOTIFY_SOCKET` names (a path, or `@name` in the abstract namespace). Without `NOTIFY_SOCKET`, nothing.
///
/// For the relay it sends `READY=1` once the relay is active or a standby, a `STATUS=` line whenever
/// that changes (active, standby, sink unreachable), `WATCHDOG=1` every half `WATCHDOG_USEC` while the
/// relay runs (when the watchdog is asked for this process), and `STOPPING=1` at the end.
final class SystemdNotifier: Sendable {
    private let socketPath: String
    /// Half the watchdog interval, when the service manager asked for one.
    let watchdogInterval: Duration?

    init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return nil }
        socketPath = path
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends one notification (`READY=1`, `STATUS=...`); failures are ignored, as sd_notify does.
    func send(_ text: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // the abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(text.utf8)
        _ = withUnsafePointer(to: &address) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
    }

    /// Follows `relay` until it stops: readiness, status lines and the watchdog.
    func follow(_ relay: OutboxRelay) async {
        var last: RelayStatus?
        var ready = false
        var lastWatchdog = ContinuousClock.now
        while !Task.isCancelled {
            let status = relay.status
            if status == .stopped { break }
            if status != last {
                last = status
                switch status {
                case .standby:
                    send((ready ? "" : "READY=1\n") + "STATUS=standby: another relay is active")
                    ready = true
                case .active(let reachable):
                    send((ready ? "" : "READY=1\n") + (reachable ? "STATUS=active: publishing" : "STATUS=active: the sink is unreachable, holding messages"))
                    ready = true
                case .misconfigured(let why):
                    send((ready ? "" : "READY=1\n") + "STATUS=misconfigured: " + String(why.map { $0.isNewline ? " " : $0 }))
                    ready = true
                case .starting, .stopped:
                    break
                }
            }
            if let interval = watchdogInterval, ready, ContinuousClock.now - lastWatchdog >= interval {
                send("WATCHDOG=1")
                lastWatchdog = .now
            }
            try? await Task.sleep(for: min(.milliseconds(100), watchdogInterval ?? .milliseconds(100)))
        }
        send("STOPPING=1")
    }
}
