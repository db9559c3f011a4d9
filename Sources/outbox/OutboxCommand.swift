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

/// Logging goes to standard error; `OUTBOX_LOG_LEVEL` (trace...critical) sets the level, default notice.
enum CLILogging {
    static let bootstrap: Void = {
        let level = ProcessInfo.processInfo.environment["OUTBOX_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }()

    static func logger(_ label: String = "outbox") -> Logger {
        _ = bootstrap
        return Logger(label: label)
    }
}

/// Runs `body`; an ``OutboxError`` (or any other error) becomes one line on standard error and exit 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as OutboxError {
        StandardError.line("outbox: error: \(e)")
        throw ExitCode(1)
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        StandardError.line("outbox: error: \(error)")
        throw ExitCode(1)
    }
}

enum StandardError {
    static func line(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}

/// Writes to standard output through one lock, flushing each write (so a reader of the pipe sees every
/// acknowledged sequence number as soon as it is durable).
final class Output: @unchecked Sendable {
    static let shared = Output()
    private let lock = NSLock()

    func write(_ s: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(s.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(1, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return }
                done += n
            }
        }
    }
}
