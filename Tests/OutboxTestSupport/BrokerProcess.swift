import Foundation
import Outbox
import Synchronization

/// A broker (`nats-server`, `mosquitto`) run for tests on a loopback port, under a shell that kills it
/// (SIGKILL) as soon as the test process is gone, so that no broker outlives the tests, even after a
/// crash. ``kill()`` kills both at once.
///
/// There is no graceful stop: a broker is killed as a power cut would stop it. Brokers that must keep
/// state across a restart are configured to persist it as it changes.
public final class BrokerProcess: @unchecked Sendable {
    public let name: String
    public let port: Int
    private let executable: String
    private let arguments: [String]
    private var shell: ChildProcess?

    /// Starts `executable` (the first of `candidates` that exists) with `arguments` and waits until it
    /// accepts connections on `port`.
    public init(_ name: String, candidates: [String], arguments: [String], port: Int) throws {
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw OutboxError(.invalidArgument, "\(name) is not installed: run scripts/install-deps")
        }
        self.name = name
        self.port = port
        self.executable = executable
        self.arguments = arguments
        try start()
    }

    /// Starts the broker again (after ``kill()`` or ``stop()``) with the same arguments.
    public func start() throws {
        let script = """
            "$0" "$@" & s=$!
            trap 'kill -9 $s; wait $s; exit 0' TERM
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.05; done
            kill -9 $s 2>/dev/null; wait $s
            """
        let p = ChildProcess()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, executable] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        shell = p
        let deadline = Date().addingTimeInterval(10)
        while !canConnect(port) {
            guard Date() < deadline, p.isRunning else {
                kill()
                throw OutboxError(.broker, "\(name) did not start on port \(port)")
            }
            usleep(20_000)
        }
    }

    /// Freezes the broker (SIGSTOP): it keeps its state and its port, accepts connections into the
    /// kernel's backlog and answers nothing, like a broker behind a link that went dead.
    public func pause() throws { try signalBroker(SIGSTOP) }

    /// Lets a paused broker go on (SIGCONT).
    public func resume() throws { try signalBroker(SIGCONT) }

    private func signalBroker(_ signal: Int32) throws {
        guard let shell, let pid = Self.child(of: shell.processIdentifier) else {
            throw OutboxError(.invalidArgument, "\(name) is not running")
        }
        Glibc.kill(pid, signal)
    }

    /// The pid of the process whose parent is `parent` (the broker under its shell).
    private static func child(of parent: Int32) -> Int32? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for e in entries {
            guard let pid = Int32(e), let stat = try? String(contentsOfFile: "/proc/\(e)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == parent, !stat.contains("(sleep)") { return pid }
        }
        return nil
    }

    /// Kills the broker at once (SIGKILL), and its shell, and waits (up to 10 s) until the broker is gone.
    ///
    /// The broker is the shell's child, not this process's: its pid is watched in /proc.
    public func kill() {
        guard let p = shell else { return }
        shell = nil
        let broker = Self.child(of: p.processIdentifier)
        if let broker { Glibc.kill(broker, SIGKILL) }
        Glibc.kill(p.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning, Date() < deadline { usleep(2_000) }  // reaps the shell
        guard let broker else { return }
        while Self.isAlive(broker), Date() < deadline { usleep(5_000) }
    }

    /// Whether `pid` is a process that has not exited (a zombie has: its sockets are closed).
    private static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    deinit { kill() }
}

/// A TCP port on 127.0.0.1 that nothing listens on (at the time of the call), and that no earlier call in
/// this process returned: two tests starting brokers at once would otherwise be given the same port now
/// and then (the kernel picks it at random among some 14,000), and one broker would not start.
public func freeLoopbackPort() throws -> Int {
    for _ in 0..<1000 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopback(0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw OutboxError(.io, "cannot find a free loopback port", errno: errno) }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        if handedOutPorts.withLock({ $0.insert(port).inserted }) { return port }
    }
    throw OutboxError(.io, "cannot find a loopback port not handed out before")
}

/// The ports ``freeLoopbackPort()`` returned.
private let handedOutPorts = Mutex<Set<Int>>([])

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = loopback(port)
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

private func loopback(_ port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return addr
}
