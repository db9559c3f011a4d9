import ArgumentParser
import Foundation
import Logging
import Outbox

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
