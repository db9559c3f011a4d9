import Foundation
import Outbox
import OutboxTestSupport
import Testing

/// The `outbox relay DIR --config FILE` processes of one test, one after another: started, SIGKILLed and
/// replaced, stopped with SIGTERM at the end; each one's standard error kept in a file of its own.
final class RelayProcesses: @unchecked Sendable {
    private let dir: String
    private let config: String
    private let logDir: TemporaryDirectory
    private var processes: [ChildProcess] = []
    private(set) var kills = 0

    init(dir: String, config: String, logs: TemporaryDirectory) {
        self.dir = dir
        self.config = config
        logDir = logs
    }

    private func logPath(_ i: Int) -> String { logDir.sub("relay-\(i).log") }

    func start() throws {
        let path = logPath(processes.count)
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--config", config]
        // At the default level (the relay's log is part of what is checked), unless OUTBOX_TEST_RELAY_LOG_LEVEL
        // asks for more while chasing a failure.
        var environment = ProcessInfo.processInfo.environment.filter { $0.key != "OUTBOX_LOG_LEVEL" }
        environment["OUTBOX_LOG_LEVEL"] = environment["OUTBOX_TEST_RELAY_LOG_LEVEL"]
        relay.environment = environment
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle(forWritingAtPath: path)
        try relay.run()
        processes.append(relay)
    }

    /// SIGKILLs the running relay, waits until it is gone and starts the next.
    func killAndRestart() async throws {
        guard let relay = processes.last else { return }
        #expect(relay.isRunning, "relay \(processes.count - 1) exited on its own:\n\(logs().last ?? "")")
        kill(relay.processIdentifier, SIGKILL)
        try await onOwnThread { relay.waitUntilExit() }
        kills += 1
        try start()
    }

    /// Stops the running relay with SIGTERM and expects a clean exit.
    func stop() async throws {
        guard let relay = processes.last else { return }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationReason == .exit && relay.terminationStatus == 0, "the relay exits cleanly on SIGTERM:\n\(logs().last ?? "")")
    }

    func killAll() {
        for p in processes where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }

    /// The running relay's threads' stacks (gdb), to say where a relay that stopped making progress waits.
    func stacks() async -> String {
        guard let relay = processes.last, relay.isRunning,
              let r = try? await runProgram(URL(fileURLWithPath: "/usr/bin/gdb"),
                                            ["-p", "\(relay.processIdentifier)", "-batch", "-ex", "thread apply all bt 12"]) else { return "(no stacks)" }
        return r.stdout.split(separator: "\n").filter { $0.hasPrefix("#") || $0.hasPrefix("Thread") }.joined(separator: "\n")
    }

    /// Each relay's standard error, in order.
    func logs() -> [String] {
        processes.indices.map { (try? String(contentsOfFile: logPath($0), encoding: .utf8)) ?? "" }
    }
}
