import ArgumentParser
import Foundation
import Outbox

/// `outbox encrypt DIR --key-file F`: rewrites what an outbox still holds in clear with the current key
/// (FORMAT.md §10), each file replaced whole, crash-safely.
struct EncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt the segments and dead letters an outbox still holds in clear (written before encryption was turned on).",
        discussion: "Each file is rewritten with the current key and renamed over the old one: a crash at any point leaves every file readable with the key. Refuses while a writer or a relay holds the outbox, and a damaged outbox (verify --repair first).")

    @Argument(help: "The outbox directory.") var dir: String
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        try await reportingErrors {
            guard let keys = try keys.load() else {
                throw ValidationError("encrypt needs the key: --key-file, --key-env or --key-credential")
            }
            let actions = try await OutboxInspector.encrypt(path: dir, keys: keys, logger: CLILogging.logger("outbox.encrypt"))
            for a in actions { Output.shared.write("\(a)\n") }
            Output.shared.write(actions.isEmpty ? "nothing in clear: every segment and dead letter is encrypted already\n"
                                                : "encrypted \(actions.count) file(s)\n")
        }
    }
}
