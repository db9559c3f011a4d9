import ArgumentParser
import Foundation
import Outbox

/// `outbox keys status|retire`: which encryption keys an outbox's data needs, and retiring one
/// (FORMAT.md §10e). Ids only: no key's bytes are read or shown (a key source, if given, only says
/// which of the needed keys it holds).
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Show which encryption keys the outbox's data needs, and retire one it no longer needs.",
        subcommands: [Status.self, Retire.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every key id the outbox used: what is encrypted with it, whether pending data needs it, whether it is retired.",
            discussion: "With --key-file (or --key-env, --key-credential), also says whether that source holds each needed key. Exit 0; 1 when a needed key is missing from the source given.")

        @Argument(help: "The outbox directory.") var dir: String
        @Flag(help: "One JSON object.") var json = false
        @OptionGroup var keys: KeyOptions

        func run() async throws {
            try await reportingErrors {
                let status = try OutboxInspector.keyStatus(path: dir)
                let given = try keys.load()
                let have = Set(given?.keys.map(\.id) ?? [])
                let missing = status.keys.filter { $0.isNeeded && given != nil && !have.contains($0.id) }
                if json {
                    var j = JSONLine()
                    j.raw("keys", "[" + status.keys.map { k in
                        var o = JSONLine()
                        o.string("id", k.id.description)
                        o.string("state", Self.state(k))
                        o.number("segments", k.segments)
                        o.number("pendingMessages", k.pendingMessages)
                        o.number("deadLetters", k.deadLetters)
                        o.bool("writing", k.writing)
                        if let given { o.bool("inKeySource", given.key(k.id) != nil) }
                        if let a = k.added { o.string("added", Self.iso(a)) }
                        if let r = k.retired { o.string("retired", Self.iso(r)) }
                        return o.text
                    }.joined(separator: ",") + "]")
                    j.number("plainSegments", status.plainSegments)
                    j.number("plainDeadLetters", status.plainDeadLetters)
                    Output.shared.write(j.text + "\n")
                } else {
                    if status.keys.isEmpty { Output.shared.write("no encryption key was used: the outbox is not encrypted\n") }
                    for k in status.keys {
                        var parts = ["\(k.segments) segment(s)", "\(k.pendingMessages) pending message(s)", "\(k.deadLetters) dead letter(s)"]
                        if k.writing { parts.append("the writer encrypts with it") }
                        if let given { parts.append(given.key(k.id) != nil ? "in the key source" : "NOT in the key source") }
                        if let r = k.retired { parts.append("retired \(Self.iso(r))") }
                        Output.shared.write("key \(k.id): \(Self.state(k)): " + parts.joined(separator: ", ") + "\n")
                    }
                    if status.plainSegments > 0 || status.plainDeadLetters > 0 {
                        Output.shared.write("in clear: \(status.plainSegments) segment(s), \(status.plainDeadLetters) dead letter(s) (outbox encrypt rewrites them)\n")
                    }
                }
                if !missing.isEmpty {
                    StandardError.line("outbox: needed key(s) not in the key source given: " + missing.map(\.id.description).joined(separator: ", "))
                    throw ExitCode(ExitStatus.found)
                }
            }
        }

        static func state(_ k: KeyStatus.Key) -> String {
            if k.isNeeded { return k.retired == nil ? "needed" : "needed (retired)" }
            return k.retired == nil ? "not needed (can be retired)" : "retired"
        }

        static func iso(_ d: Date) -> String { ISO8601DateFormatter().string(from: d) }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mark a key retired: no writer encrypts with it again. Refused (exit 75) while pending messages, dead letters or the writer need it.",
            discussion: "After this, the key can be removed from the key file and destroyed. Data only a destroyed key encrypted cannot be read by anyone: destroying every key wipes an outbox without overwriting its files (crypto-shred).")

        @Argument(help: "The outbox directory.") var dir: String
        @Argument(help: "The key's id (16 hex digits, as keys status shows it).") var id: String

        func run() async throws {
            try await reportingErrors {
                guard let key = OutboxKeys.ID(id.lowercased()) else {
                    throw ValidationError("\(id.debugDescription) is not a key id: 16 hexadecimal digits, as outbox keys status shows")
                }
                try OutboxInspector.retireKey(key, path: dir)
                Output.shared.write("key \(key): retired\n")
            }
        }
    }
}
