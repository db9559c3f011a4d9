import ArgumentParser
import Foundation
import Outbox

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every header, frame, tombstone and invariant; exit 0 when clean, 1 when damaged.",
        discussion: "--repair truncates a torn tail and replaces a damaged file by its valid frames, keeping the original as NAME.broken (it never deletes data) and saying what it did; it refuses while a writer or a relay holds the outbox.")

    @Argument(help: "The outbox directory.") var dir: String
    @Flag(help: "One JSON object.") var json = false
    @Flag(help: "Repair what can be repaired.") var repair = false
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        try await reportingErrors {
            let logger = CLILogging.logger("outbox.repair")
            var actions: [String] = []
            var problems: [VerifyProblem]
            var summary = ""
            var quarantined: [QuarantinedFile] = []
            var notDecrypted = 0
            var keysNotGiven: [String] = []
            if repair {
                let result = try await OutboxInspector.repair(path: dir, keys: try keys.load(), logger: logger)
                actions = result.actions
                problems = result.remaining
            } else {
                let report = try OutboxInspector.verify(path: dir, keys: try keys.load())
                problems = report.problems
                quarantined = report.quarantined
                notDecrypted = report.notDecrypted
                keysNotGiven = report.keysNotGiven.sorted()
                summary = "\(report.files) file(s), \(report.segments) segment(s), \(report.messages) message(s), last sequence number \(report.lastSeq)"
            }
            let damage = problems.filter { $0.kind != .leftoverFile }
            if json {
                var j = JSONLine()
                j.bool("clean", damage.isEmpty)
                if repair { j.raw("actions", "[" + actions.map(JSONLine.quote).joined(separator: ",") + "]") }
                if notDecrypted > 0 {
                    j.number("notDecrypted", notDecrypted)
                    j.raw("keysNotGiven", "[" + keysNotGiven.map(JSONLine.quote).joined(separator: ",") + "]")
                }
                j.raw("problems", "[" + problems.map { p in
                    var o = JSONLine()
                    o.string("file", p.file)
                    o.number("offset", p.offset)
                    o.string("kind", p.kind.rawValue)
                    o.string("reason", p.reason)
                    return o.text
                }.joined(separator: ",") + "]")
                j.raw("quarantined", "[" + quarantined.map { q in
                    var o = JSONLine()
                    o.string("file", q.name)
                    o.string("reason", q.reason)
                    o.string("lost", q.lost)
                    return o.text
                }.joined(separator: ",") + "]")
                Output.shared.write(j.text + "\n")
            } else {
                for a in actions { Output.shared.write("repaired: \(a)\n") }
                for q in quarantined {
                    Output.shared.write("\(dir)/quarantine/\(q.name): quarantined: \(q.reason) (sequence numbers lost: \(q.lost))\n")
                }
                for p in problems {
                    let at = p.offset.map { " at offset \($0)" } ?? ""
                    Output.shared.write("\(dir)/\(p.file)\(at): \(p.kind.rawValue): \(p.reason)\n")
                }
                if notDecrypted > 0 {
                    // Not damage: without the key, what the frames hold is not checked (FORMAT.md §10).
                    Output.shared.write("not decrypted: \(notDecrypted) encrypted frame(s) checked for structure only; their records need key(s) "
                                        + keysNotGiven.joined(separator: ", ") + " (--key-file)\n")
                }
                if damage.isEmpty {
                    Output.shared.write(repair ? "clean after repair\n" : "clean: \(summary)\n")
                } else {
                    Output.shared.write("\(damage.count) problem(s)\(repair ? " remain" : "")\n")
                }
            }
            if !damage.isEmpty { throw ExitCode(ExitStatus.found) }
        }
    }
}
