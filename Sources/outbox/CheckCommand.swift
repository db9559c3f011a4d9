import ArgumentParser
import Foundation
import Outbox

/// `outbox check`: one status line and the monitoring-plugin exit status, for cron jobs and watchdogs.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "One status line; exit 0 ok, 1 warning, 2 critical, 3 unknown (the monitoring-plugin convention).",
        discussion: """
            Critical: the oldest pending message is older than --max-pending-age (default 3600 s); more than \
            --max-pending messages are pending (no default); the relay's sink has been unreachable for more \
            than --max-sink-down (default 300 s); or messages are pending, the oldest older than --max-no-relay \
            (default 60 s), and no relay is running. Warning: the same against --warn-pending-age (default \
            300 s) and --warn-pending (default half --max-pending); the sink unreachable for a shorter time; \
            messages pending with no relay for a shorter time; or dead letters not redriven. Unknown: the \
            outbox cannot be read. After the text, performance data (label=value[unit];warn;crit;min) for \
            pending, oldest_pending_age, dead_letters and sink_down. With a relay of several routes, each \
            route's sink is judged and named; --route judges one route: its pending messages, its oldest and its \
            sink. Read-only; safe while a writer and a relay run.
            """)

    @Argument(help: "The outbox directory.") var dir: String
    @Option(parsing: .unconditional, help: "Critical when the oldest pending message is older than this many seconds.") var maxPendingAge: Double = 3600
    @Option(parsing: .unconditional, help: "Critical when more than this many messages are pending (default: no limit).") var maxPending: UInt64?
    @Option(parsing: .unconditional, help: "Warning when the oldest pending message is older than this many seconds.") var warnPendingAge: Double = 300
    @Option(parsing: .unconditional, help: "Warning when more than this many messages are pending (default: half --max-pending).")
    var warnPending: UInt64?
    @Option(parsing: .unconditional, help: "Critical when the relay's sink has been unreachable for more than this many seconds (a warning before).")
    var maxSinkDown: Double = 300
    @Option(parsing: .unconditional, help: "Critical when messages are pending, the oldest older than this many seconds, and no relay runs (a warning before).")
    var maxNoRelay: Double = 60
    @Option(help: "Judge only this route (a relay of several sinks): its pending messages and its sink.") var route: String?
    @OptionGroup var keys: KeyOptions

    static let ok: Int32 = 0, warning: Int32 = 1, critical: Int32 = 2, unknown: Int32 = 3

    func validate() throws {
        for (value, name) in [(maxPendingAge, "--max-pending-age"), (warnPendingAge, "--warn-pending-age"), (maxSinkDown, "--max-sink-down"),
                              (maxNoRelay, "--max-no-relay")] {
            try RelayCommand.validateSeconds(value, name, allowZero: true)
        }
    }

    func run() async throws {
        _ = CLILogging.bootstrap
        let path = dir
        let stats: OutboxStats
        let dead: Int
        do {
            (stats, dead) = try await onDedicatedThread("outbox-check") {
                let reader = try OutboxReader(path: path, keys: try keys.load())
                return (try reader.stats(perRoute: true), try reader.deadLetters().filter { !$0.redriven }.count)
            }
        } catch {
            Output.shared.write("OUTBOX UNKNOWN - \(error)\n")
            throw ExitCode(Self.unknown)
        }
        var (age, pending) = (stats.oldestPendingAgeSeconds, stats.pending)
        let now = Date().timeIntervalSince1970
        // Whose sink is judged: the one route asked for, else every route of the relay, else its one sink.
        var sinks: [(label: String, reachable: Bool?, downSince: Int64?, error: String?)] =
            stats.routes.isEmpty ? [("sink", stats.sinkReachable, stats.sinkUnreachableSinceMicros, stats.sinkError)]
            : stats.routes.map { ("route \($0.name): sink", $0.sinkReachable, $0.sinkUnreachableSinceMicros, $0.sinkError) }
        if let route {
            guard let r = stats.routes.first(where: { $0.name == route }) else {
                Output.shared.write("OUTBOX UNKNOWN - no route \(route) in the running relay's status\n")
                throw ExitCode(Self.unknown)
            }
            sinks = [("sink", r.sinkReachable, r.sinkUnreachableSinceMicros, r.sinkError)]
            (age, pending) = (r.oldestPendingAgeSeconds, r.pending ?? 0)
        }
        let downs = sinks.map { s in s.reachable == false ? max(0, now - (s.downSince.map { Double($0) / 1e6 } ?? now)) : nil }
        let sinkDown = downs.compactMap { $0 }.max()
        let warnPending = self.warnPending ?? maxPending.map { $0 / 2 }
        var criticals: [String] = [], warnings: [String] = []
        func judge(_ what: String, _ value: Double, warn: Double?, crit: Double?) {
            if let crit, value > crit { criticals.append(what + String(format: " > %.0f", crit)) } else if let warn, value > warn {
                warnings.append(what + String(format: " > %.0f", warn))
            }
        }
        if let age { judge(String(format: "oldest pending %.0f s old", age), age, warn: warnPendingAge, crit: maxPendingAge) }
        judge("\(pending) pending", Double(pending), warn: warnPending.map { Double($0) }, crit: maxPending.map { Double($0) })
        for (sink, down) in zip(sinks, downs) {
            guard let down else { continue }
            let why = sink.error.map { ": \(Self.oneLine($0))" } ?? ""
            if down > maxSinkDown {
                criticals.append(String(format: "\(sink.label) unreachable for %.0f s > %.0f s", down, maxSinkDown) + why)
            } else {
                warnings.append(String(format: "\(sink.label) unreachable for %.0f s", down) + why)
            }
        }
        if stats.pending > 0 && stats.relayPid == nil {
            if let age, age > maxNoRelay { criticals.append(String(format: "no relay is running, oldest pending %.0f s old > %.0f s", age, maxNoRelay)) } else {
                warnings.append("no relay is running")
            }
        }
        if dead > 0 { warnings.append("\(dead) dead letter(s) not redriven") }
        // A budget 90% spent: what is left may hold no message (the relay then holds until the period ends).
        for u in stats.uplink where u.spentBytes * 10 >= u.budgetBytes * 9 && (route == nil || u.route == route) {
            warnings.append("uplink budget of route \(u.route) \(u.spentBytes * 100 / max(1, u.budgetBytes))% spent (\(u.spentBytes) of "
                            + "\(u.budgetBytes) bytes this \(u.period), whole again \(rfc3339(micros: u.resetsMicros)))")
        }
        let summary = (route.map { "route \($0): " } ?? "") + "\(pending) pending, oldest " + (age.map { String(format: "%.0f s", $0) } ?? "-")
            + ", \(stats.dead) dead-lettered, relay " + (stats.relayPid.map { "pid \($0)" } ?? "not running")
        // Performance data (the monitoring-plugin format): 'label'=value[unit];warn;crit;min;max, space-separated.
        func number(_ v: Double?) -> String { v.map { $0 == $0.rounded() ? String(Int64($0)) : String(format: "%.3f", $0) } ?? "" }
        let perf = ([
            "pending=\(pending);\(number(warnPending.map { Double($0) }));\(number(maxPending.map { Double($0) }));0",
            "oldest_pending_age=\(number(age ?? 0))s;\(number(warnPendingAge));\(number(maxPendingAge));0",
            "dead_letters=\(dead);0;;0",
            "sink_down=\(number(sinkDown ?? 0))s;0;\(number(maxSinkDown));0",
        ] + stats.uplink.filter { route == nil || $0.route == route }.map { "uplink_\($0.route)=\($0.spentBytes)B;;\($0.budgetBytes);0" })
            .joined(separator: " ")
        let (label, status) = !criticals.isEmpty ? ("CRITICAL", Self.critical) : !warnings.isEmpty ? ("WARNING", Self.warning) : ("OK", Self.ok)
        let problems = (criticals + warnings).joined(separator: "; ")
        Output.shared.write("OUTBOX \(label) - \(problems.isEmpty ? summary : problems + "; " + summary) | \(perf)\n")
        if status != Self.ok { throw ExitCode(status) }
    }

    /// `text` on one line (the status line is one line; a broker's error may hold line breaks).
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
