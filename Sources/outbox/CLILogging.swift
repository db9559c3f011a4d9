import ArgumentParser
import Foundation
import Logging
import Outbox

/// Logging goes to standard error. `OUTBOX_LOG_LEVEL` (trace...critical) sets the level, default notice;
/// `OUTBOX_LOG_FORMAT` (or a command's `--log-format`) `text` or `json` the format. When journald
/// receives standard error (`JOURNAL_STREAM` is set), text lines carry no timestamp: journald adds its
/// own.
enum CLILogging {
    enum Format: String, ExpressibleByArgument, CaseIterable, Sendable {
        case text, json
    }

    /// The format asked for on the command line, set before the first logger is made.
    nonisolated(unsafe) static var requestedFormat: Format?

    static let bootstrap: Void = {
        let env = ProcessInfo.processInfo.environment
        let level = env["OUTBOX_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
        let format = requestedFormat ?? env["OUTBOX_LOG_FORMAT"].flatMap(Format.init(rawValue:)) ?? .text
        let timestamps = env["JOURNAL_STREAM"] == nil
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, logLevel: level, format: format, timestamps: timestamps)
        }
    }()

    static func logger(_ label: String = "outbox") -> Logger {
        _ = bootstrap
        return Logger(label: label)
    }
}

/// One line per event on standard error: `TIME LEVEL LABEL: MESSAGE key=value...` (no time under journald),
/// or one JSON object (`time`, `level`, `label`, `message`, then the metadata).
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    let format: CLILogging.Format
    let timestamps: Bool
    var metadata: Logger.Metadata = [:]

    init(label: String, logLevel: Logger.Level, format: CLILogging.Format, timestamps: Bool) {
        self.label = label
        self.logLevel = logLevel
        self.format = format
        self.timestamps = timestamps
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Whether `text` is a JSON number without a leading zero or a sign other than `-` (`42`, `-1`,
    /// `0.25`), or `true` or `false`: what a log value made from a number or a flag prints as.
    static func isJSONScalar(_ text: String) -> Bool {
        if text == "true" || text == "false" { return true }
        return text.utf8.count <= 24 && text.wholeMatch(of: /-?(0|[1-9][0-9]*)(\.[0-9]+)?/) != nil
    }

    func log(event: LogEvent) {
        var all = metadata
        for (k, v) in event.metadata ?? [:] { all[k] = v }
        let now = rfc3339(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))
        let line: String
        switch format {
        case .json:
            var j = JSONLine()
            j.string("time", now)
            j.string("level", event.level.rawValue)
            j.string("label", label)
            j.string("message", "\(event.message)")
            // A value that is a number (or true, false) is written as one, not as a string of digits.
            for (k, v) in all.sorted(by: { $0.key < $1.key }) {
                let text = "\(v)"
                if Self.isJSONScalar(text) { j.raw(k, text) } else { j.string(k, text) }
            }
            line = j.text
        case .text:
            let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            line = (timestamps ? now + " " : "") + "\(event.level) \(label): \(event.message)" + (fields.isEmpty ? "" : " " + fields)
        }
        StandardError.line(line)
    }
}
