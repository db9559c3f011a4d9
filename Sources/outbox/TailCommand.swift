import ArgumentParser
import Foundation
import Outbox

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow new commits live (inotify), like tail -f; read-only.")

    @Argument(help: "The outbox directory.") var dir: String
    @Flag(help: "JSON Lines (the dump --json fields).") var json = false
    @Option(parsing: .unconditional, help: "Start at this sequence number instead of the next commit.") var from: UInt64?
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        try await reportingErrors {
            let reader = try OutboxReader(path: dir, keys: try keys.load())
            // Each message's status as the tombstones say now; they are read again at most every 250 ms.
            var tombstones = try reader.tombstones()
            var readAt = ContinuousClock.now
            for try await m in reader.follow(from: from, logger: CLILogging.logger()) {
                if ContinuousClock.now - readAt > .milliseconds(250) {
                    tombstones = try reader.tombstones()
                    readAt = .now
                }
                let status = tombstones.status(of: m.seq)
                Output.shared.write((json ? DumpCommand.jsonLine(m, status, payload: .none)
                                          : DumpCommand.tableLine(m, status, payload: .none)) + "\n")
            }
        }
    }
}
