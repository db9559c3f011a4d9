import Foundation
import Outbox
import Testing

/// The store-and-forward scenario of issue 9, run through the `outbox` tool as an operator would: a
/// relay process (`outbox relay DIR --max-attempts 2 --sink SPEC`), producers appending from other
/// processes, the broker taken away for ``outage`` while they append, then brought back.
///
/// It checks what the outbox side promises: nothing dead-lettered, nothing pending soon after the
/// broker returned, and the relay's log at the default level holding exactly one line for the outage and
/// one for its end (per relay process). What the broker holds is for the caller to check.
public struct BrokerOutage: Sendable {
    public var sinkSpec: String
    /// Extra environment for the relay (for example `LD_LIBRARY_PATH`).
    public var environment: [String: String] = [:]
    /// How long the broker stays away: `OUTBOX_OUTAGE_SECONDS`, default 60.
    public var outage: Duration = .seconds(Int64(ProcessInfo.processInfo.environment["OUTBOX_OUTAGE_SECONDS"].flatMap(Int.init) ?? 60))
    /// Kill the relay with SIGKILL halfway through the outage and start another.
    public var killRelayMidOutage = false
    public var keys = 7

    public init(sinkSpec: String) { self.sinkSpec = sinkSpec }

    public struct Result: Sendable {
        /// How many messages were appended in all (dense sequence numbers 1...appended).
        public var appended: Int
        /// From the broker's return until nothing was pending.
        public var drainSeconds: Double
        /// The standard error of each relay process, in order.
        public var relayLogs: [String]
    }

    /// Runs the scenario in `dir`; `takeDown` and `bringBack` stop and restart the broker.
    public func run(in dir: String, takeDown: @escaping @Sendable () throws -> Void,
                    bringBack: @escaping @Sendable () throws -> Void) async throws -> Result {
        let logDir = TemporaryDirectory("outbox-outage-logs")
        var appended = 0
        func append(_ n: Int) async throws {
            let r = try await runOutbox(["append", dir, "--count", String(n), "--keys", String(keys), "--concurrency", "4"])
            #expect(r.status == 0, "\(r.stderr)")
            appended += n
        }
        func pending() throws -> (pending: UInt64, dead: UInt64) {
            let s = try OutboxReader(path: dir).stats()
            return (s.pending, s.dead)
        }
        try await append(100)
        var relays = [try startRelay(dir, logDir.sub("relay-0.log"))]
        defer { for r in relays where r.isRunning { kill(r.processIdentifier, SIGKILL) } }
        try await eventually("the first 100 published", timeout: .seconds(30)) { try pending().pending == 0 }

        try await onOwnThread { try takeDown() }
        let outageStart = ContinuousClock.now
        var killed = false
        // Producers go on appending through the outage, a batch every second.
        while ContinuousClock.now - outageStart < outage {
            try await append(50)
            if killRelayMidOutage && !killed && ContinuousClock.now - outageStart >= outage / 2 {
                let old = relays.last!
                kill(old.processIdentifier, SIGKILL)
                try await onOwnThread { old.waitUntilExit() }
                relays.append(try startRelay(dir, logDir.sub("relay-\(relays.count).log")))
                killed = true
            }
            try await Task.sleep(for: .seconds(1))
        }
        let during = try pending()
        #expect(during.dead == 0, "nothing is dead-lettered during an outage, with --max-attempts 2")
        #expect(during.pending > 0, "nothing is published while the broker is away")

        try await onOwnThread { try bringBack() }
        let back = ContinuousClock.now
        try await eventually("nothing pending after the broker came back", timeout: .seconds(60)) { try pending().pending == 0 }
        let drain = (ContinuousClock.now - back)
        let after = try pending()
        #expect(after.dead == 0, "nothing dead-lettered")

        let last = relays.last!
        last.terminate()
        try await onOwnThread { last.waitUntilExit() }
        #expect(last.terminationReason == .exit && last.terminationStatus == 0, "the relay exits cleanly on SIGTERM")
        let logs = try relays.indices.map { try String(contentsOfFile: logDir.sub("relay-\($0).log"), encoding: .utf8) }
        for (i, log) in logs.enumerated() {
            let lines = log.split(separator: "\n")
            #expect(lines.filter { $0.contains("sink unreachable") }.count == 1, "relay \(i): one line for the outage:\n\(log)")
            #expect(lines.filter { $0.contains("dead-lettered") }.isEmpty, "relay \(i):\n\(log)")
        }
        #expect(logs.last!.split(separator: "\n").filter { $0.contains("sink reachable again") }.count == 1,
                "the last relay: one line for the end of the outage:\n\(logs.last!)")
        let seconds = Double(drain.components.seconds) + Double(drain.components.attoseconds) / 1e18
        print("[outage] \(sinkSpec): \(appended) appended, broker away \(outage), drained \(String(format: "%.1f", seconds)) s after it came back"
              + (killed ? ", relay killed mid-outage" : ""))
        return Result(appended: appended, drainSeconds: seconds, relayLogs: logs)
    }

    private func startRelay(_ dir: String, _ logPath: String) throws -> ChildProcess {
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--max-attempts", "2", "--sink", sinkSpec]
        relay.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { $0.key != "OUTBOX_LOG_LEVEL" }
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle(forWritingAtPath: logPath)
        try relay.run()
        return relay
    }
}
