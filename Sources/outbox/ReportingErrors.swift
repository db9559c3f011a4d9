import ArgumentParser
import Foundation
import Logging
import Outbox

/// The tool's exit statuses (README, "Exit statuses"): 0 success; 1 a check found something (damage,
/// a message that failed again); otherwise the `sysexits.h` value of the error's kind.
enum ExitStatus {
    /// Damage found by `verify` or `dump --raw`; a redriven message that failed again.
    static let found: Int32 = 1
    /// The command line is wrong (ArgumentParser's own validation failures use it too).
    static let usage: Int32 = 64
    /// A file is damaged, of an unknown format version, or a record is too large (`EX_DATAERR`).
    static let data: Int32 = 65
    /// The path is missing, not a directory, or holds no outbox (`EX_NOINPUT`).
    static let noInput: Int32 = 66
    /// A broker cannot be reached (`EX_UNAVAILABLE`).
    static let unavailable: Int32 = 69
    /// A system call failed: I/O error, full disk, failed fsync (`EX_IOERR`).
    static let io: Int32 = 74
    /// Another process holds the lock, or the outbox is full; try again later (`EX_TEMPFAIL`).
    static let locked: Int32 = 75
    /// A configuration the library or a broker refuses (`EX_CONFIG`).
    static let config: Int32 = 78

    static func of(_ code: OutboxError.Code) -> Int32 {
        switch code {
        case .corrupt, .unsupportedVersion, .recordTooLarge, .eventEncoding, .eventDecoding: data
        case .notAnOutbox, .symlink: noInput
        case .broker: unavailable
        case .locked, .outboxFull, .keyInUse: locked
        case .invalidArgument, .missingKey, .wrongKey, .retiredKey: config
        default: io
        }
    }
}

/// Runs `body`; an ``OutboxError`` becomes one line on standard error, `outbox: error [CODE]: …`, and
/// the exit status of its code (``ExitStatus``); any other error one line and exit 1.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let e as OutboxError {
        StandardError.line("outbox: error [\(e.code)]: \(e)")
        throw ExitCode(ExitStatus.of(e.code))
    } catch let e as ValidationError {
        StandardError.line("outbox: error: \(e.message)")
        throw ExitCode(ExitStatus.usage)
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch {
        StandardError.line("outbox: error: \(error)")
        throw ExitCode(ExitStatus.found)
    }
}
