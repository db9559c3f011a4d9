import ArgumentParser
import Foundation
import Outbox

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List dead-lettered messages, or ask the relay to republish them (redrive).",
        discussion: """
            redrive needs no lock: it works while a writer and a relay run. The relay republishes each \
            chosen dead letter with its original sequence number and id as soon as it sees the request, \
            ahead of its key's pending messages, then marks it redriven. Without a running relay, the \
            next relay to start does it.
            """)

    enum Action: String, ExpressibleByArgument, CaseIterable { case list, redrive }

    @Argument(help: "The outbox directory.") var dir: String
    @Argument(help: "list or redrive.") var action: Action
    @Flag(help: "JSON Lines (list).") var json = false
    @Option(name: .customLong("seq"), help: "Only this dead letter's original sequence number (repeatable; redrive).") var seqs: [UInt64] = []
    @OptionGroup var keys: KeyOptions
    @Option(parsing: .unconditional, help: "Seconds redrive waits for a running relay to republish them (0: do not wait).") var wait: Double = 30
    @Option(help: "Only the dead letters of this route (a relay of several sinks).") var route: String?

    func validate() throws {
        try RelayCommand.validateSeconds(wait, "--wait", allowZero: true)
    }

    func run() async throws {
        try await reportingErrors {
            _ = CLILogging.bootstrap
            let reader = try OutboxReader(path: dir, keys: try keys.load())
            switch action {
            case .list:
                for d in try reader.deadLetters() where route == nil || d.route == route {
                    let status = d.redriven ? "redriven" : d.redriveRequested ? "redrive-requested" : "dead"
                    if json {
                        var j = JSONLine()
                        j.number("seq", d.seq)
                        j.string("status", status)
                        j.string("id", d.message.id.description)
                        j.string("type", d.message.type)
                        j.string("key", d.message.key)
                        j.string("reason", d.reason)
                        j.string("lastError", d.lastError)
                        j.number("attempts", d.attempts)
                        j.string("deadAt", rfc3339(micros: d.deadAtMicros))
                        j.bool("redriven", d.redriven)
                        j.string("route", d.route)
                        Output.shared.write(j.text + "\n")
                    } else {
                        // Stored text is escaped: a control character in it never reaches the terminal raw.
                        let key = d.message.key.map(DumpCommand.escaped) ?? "-"
                        Output.shared.write("\(d.seq)  \(rfc3339(micros: d.deadAtMicros))  \(DumpCommand.escaped(d.message.type))  key=\(key)  "
                                            + (d.route.map { "route=\($0)  " } ?? "")
                                            + "attempts=\(d.attempts)  \(status)  \(DumpCommand.escaped(d.reason)): \(DumpCommand.escaped(d.lastError))\n")
                    }
                }
                // Sequence numbers tombstoned as dead with no dead letter: lost to a repair.
                for r in try reader.lostSequenceNumbers().ranges where route == nil {
                    Output.shared.write((json ? DumpCommand.lostJSON(r) : "\(DumpCommand.lostSpan(r))  lost  \(DumpCommand.lostReason)") + "\n")
                }
            case .redrive:
                // Blocking reads and writes run off the cooperative pool.
                let wantedSeqs = seqs.isEmpty ? nil : seqs
                let route = self.route
                let requested = try await onDedicatedThread("outbox-redrive") { try reader.requestRedrive(wantedSeqs, route: route) }
                guard !requested.isEmpty else {
                    StandardError.line("nothing to redrive: every dead letter\(seqs.isEmpty ? "" : " asked for") is redriven already")
                    return
                }
                let range = SequenceRangeSet(requested)
                guard let relay = try await onDedicatedThread("outbox-redrive", { try reader.stats().relayPid }) else {
                    StandardError.line("asked to redrive \(requested.count) message(s) (\(range)); no relay runs: the next relay to start republishes them")
                    return
                }
                guard wait > 0 else {
                    StandardError.line("asked relay \(relay) to redrive \(requested.count) message(s) (\(range))")
                    return
                }
                let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
                let wanted = Set(requested)
                while true {
                    let waiting = try await onDedicatedThread("outbox-redrive") { try reader.deadLetters() }
                        .filter { wanted.contains($0.seq) && $0.redriveRequested }
                    if waiting.isEmpty { break }
                    guard ContinuousClock.now < deadline else {
                        StandardError.line("outbox: error [timed-out]: relay \(relay) has not republished \(waiting.count) of \(requested.count) requested message(s) "
                                           + "within \(wait) s (is its sink unreachable?); the request stands")
                        throw ExitCode(ExitStatus.locked)
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let letters = try await onDedicatedThread("outbox-redrive") { try reader.deadLetters() }.filter { wanted.contains($0.seq) }
                let again = letters.filter { !$0.redriven }
                StandardError.line("relay \(relay) republished \(letters.count - again.count) of \(requested.count) message(s) (\(range))"
                                   + (again.isEmpty ? "" : "; \(again.count) failed again and are dead letters again"))
                if !again.isEmpty { throw ExitCode(ExitStatus.found) }
            }
        }
    }
}
