import ArgumentParser
import Foundation
import Logging
import Outbox

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
