import ArgumentParser
import Foundation
import Outbox

/// `outbox check`: one status line and the monitoring-plugin exit status, for cron jobs and watchdogs.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "One status line; exit 0 ok, 1 warning, 2 critical, 3 unknown (the monitoring-plugin convention).",
        discussion: """
            Critical: the oldest pending message is older than --max-pending-age, or more than --max-pending \\
            messages are pending. Warning: the same against --warn-pending-age and --warn-pending (by default \\
            half the critical limits), messages pending with no relay running, or dead letters not redriven. \\
            Unknown: the outbox cannot be read. Read-only; safe while a writer and a relay run.
            """)

    @Argument(help: "The outbox directory.") var dir: String
    @Option(help: "Critical when the oldest pending message is older than this many seconds.") var maxPendingAge: Double?
    @Option(parsing: .unconditional, help: "Critical when more than this many messages are pending.") var maxPending: UInt64?
    @Option(help: "Warning when the oldest pending message is older than this many seconds (default: half --max-pending-age).")
    var warnPendingAge: Double?
    @Option(parsing: .unconditional, help: "Warning when more than this many messages are pending (default: half --max-pending).")
    var warnPending: UInt64?

    static let ok: Int32 = 0, warning: Int32 = 1, critical: Int32 = 2, unknown: Int32 = 3

    func validate() throws {
        for (value, name) in [(maxPendingAge, "--max-pending-age"), (warnPendingAge, "--warn-pending-age")] {
            if let value { try RelayCommand.validateSeconds(value, name, allowZero: true) }
        }
    }

    func run() async throws {
        _ = CLILogging.bootstrap
        let path = dir
        let stats: OutboxStats
        let dead: Int
        do {
            (stats, dead) = try await onDedicatedThread("outbox-check") {
                let reader = try OutboxReader(path: path)
                return (try reader.stats(), try reader.deadLetters().filter { !$0.redriven }.count)
            }
        } catch {
            Output.shared.write("OUTBOX UNKNOWN - \(error)\n")
            throw ExitCode(Self.unknown)
        }
        let age = stats.oldestPendingAgeSeconds
        var criticals: [String] = [], warnings: [String] = []
        if let limit = maxPendingAge, let age, age > limit { criticals.append(String(format: "oldest pending %.0f s old > %.0f s", age, limit)) }
        if let limit = maxPending, stats.pending > limit { criticals.append("\(stats.pending) pending > \(limit)") }
        if criticals.isEmpty {
            if let limit = warnPendingAge ?? maxPendingAge.map({ $0 / 2 }), let age, age > limit {
                warnings.append(String(format: "oldest pending %.0f s old > %.0f s", age, limit))
            }
            if let limit = warnPending ?? maxPending.map({ $0 / 2 }), stats.pending > limit { warnings.append("\(stats.pending) pending > \(limit)") }
        }
        if stats.pending > 0 && stats.relayPid == nil { warnings.append("no relay is running") }
        if dead > 0 { warnings.append("\(dead) dead letter(s) not redriven") }
        let summary = "\(stats.pending) pending, oldest " + (age.map { String(format: "%.0f s", $0) } ?? "-")
            + ", \(stats.dead) dead-lettered, relay " + (stats.relayPid.map { "pid \($0)" } ?? "not running")
        if !criticals.isEmpty {
            Output.shared.write("OUTBOX CRITICAL - \((criticals + warnings).joined(separator: "; ")) | \(summary)\n")
            throw ExitCode(Self.critical)
        }
        if !warnings.isEmpty {
            Output.shared.write("OUTBOX WARNING - \(warnings.joined(separator: "; ")) | \(summary)\n")
            throw ExitCode(Self.warning)
        }
        Output.shared.write("OUTBOX OK - \(summary)\n")
    }
}
