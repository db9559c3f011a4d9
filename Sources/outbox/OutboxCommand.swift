import ArgumentParser
import Foundation
import Logging
import Outbox

@main
struct OutboxCommand: AsyncParsableCommand {
    /// The tool's version (`outbox --version`), with the file format version it reads and writes.
    static let version = "0.9.0"

    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Append to, inspect and maintain a file-based transactional outbox.",
        version: "outbox \(version) (file format version \(OutboxConfiguration.formatVersion))",
        subcommands: [DemoCommand.self, AppendCommand.self, RelayCommand.self, DumpCommand.self, StatsCommand.self,
                      VerifyCommand.self, TailCommand.self, CheckCommand.self, DeadLettersCommand.self, KeysCommand.self, EncryptCommand.self, BenchCommand.self])

    /// Refuses an argument that is not valid UTF-8 (Swift would silently turn it into U+FFFD), naming
    /// it, before parsing anything.
    static func main() async {
        let argv = CommandLine.unsafeArgv
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = argv[i], String(validatingCString: raw) == nil else { continue }
            let previous = i > 1 ? argv[i - 1].flatMap { String(validatingCString: $0) } : nil
            let name = previous.map { $0.hasPrefix("-") ? "the value of \($0)" : "argument \(i)" } ?? "argument \(i)"
            StandardError.line("outbox: error: \(name) is not valid UTF-8")
            Glibc.exit(ExitCode.validationFailure.rawValue)
        }
        var arguments = Array(CommandLine.arguments.dropFirst())
        var fromFile: (path: String, names: [String])?
        if arguments.first == "relay" {
            let environment = ProcessInfo.processInfo.environment
            arguments += RelayCommand.environmentArguments(Array(arguments.dropFirst()), environment: environment)
            do {
                let added = try RelayConfigFile.arguments(Array(arguments.dropFirst()), environment: environment)
                if let path = try RelayConfigFile.path(in: Array(arguments.dropFirst()), environment: environment) {
                    fromFile = (path, added.filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2)) })
                    _ = try RelayRoutesFile.routes(at: path)  // its routes are refused here, with the file's other errors
                }
                arguments += added
            } catch let e as OutboxError {
                StandardError.line("outbox: error [\(e.code)]: \(e.message)")
                Glibc.exit(ExitStatus.config)
            } catch {
                StandardError.line("outbox: error: \(error)")
                Glibc.exit(ExitStatus.config)
            }
        }
        await run(arguments, fromFile: fromFile)
    }

    /// Parses and runs the command. A usage error (a bad option, a value out of range) is one line,
    /// `outbox: error: …`, with where to read more, and exit 64; help and `--version` print as usual.
    ///
    /// A value that came from `--config FILE` and is refused names the file and the option, and exits 78
    /// (`EX_CONFIG`), as the file's other errors do.
    static func run(_ arguments: [String], fromFile: (path: String, names: [String])? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? AsyncParsableCommand { try await command.run() } else { try command.run() }
        } catch {
            let status = exitCode(for: error)
            if status == .success || error is ExitCode { exit(withError: error) }  // help, --version, a status already reported
            let message = message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
            if status == .validationFailure, let file = fromFile, let name = file.names.first(where: { message.contains("--\($0)") }) {
                StandardError.line("outbox: error [invalid-argument]: --config \(file.path): \"\(name)\": \(message)")
                Glibc.exit(ExitStatus.config)
            }
            let hint = fullMessage(for: error).split(whereSeparator: \.isNewline)
                .first { $0.contains("See '") }
                .flatMap { line in line.firstIndex(of: "'").map { " (see \(line[$0...]))" } } ?? ""
            StandardError.line("outbox: error: \(message)\(hint.replacingOccurrences(of: " for more information.", with: ""))")
            Glibc.exit(status == .validationFailure ? ExitStatus.usage : status.rawValue)
        }
    }
}
