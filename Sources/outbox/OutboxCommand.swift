import ArgumentParser
import Foundation
import Logging
import Outbox

@main
struct OutboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Append to, inspect and maintain a file-based transactional outbox.",
        subcommands: [DemoCommand.self, AppendCommand.self, RelayCommand.self, DumpCommand.self, StatsCommand.self,
                      VerifyCommand.self, TailCommand.self, DeadLettersCommand.self, BenchCommand.self])
}
