import ArgumentParser
import Foundation
import Outbox

struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow new commits live (inotify), like tail -f; read-only.")

    @Argument(help: "The outbox directory.") var dir: String
    @Flag(help: "JSON Lines (the dump --json fields).") var json = false
    @Option(help: "Start at this sequence number instead of the next commit.") var from: UInt64?

    func run() async throws {
        try await reportingErrors {
            let reader = try OutboxReader(path: dir)
            for try await m in reader.follow(from: from, logger: CLILogging.logger()) {
                Output.shared.write((json ? DumpCommand.jsonLine(m, .pending, payload: .none)
                                          : DumpCommand.tableLine(m, .pending, payload: .none)) + "\n")
            }
        }
    }
}
