import Foundation
import Logging

/// Keeps every line logged through ``logger`` (at `level` and above), rendered as a stream handler
/// would render it (level, message, metadata), so that tests can count lines and search them for
/// secrets.
public final class LogCapture: @unchecked Sendable {
    public struct Line: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
        /// The whole line as text: level, message and every metadata value.
        public var text: String { "\(level) \(message) " + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
    }

    private let lock = NSLock()
    private var _lines: [Line] = []
    public let level: Logger.Level

    public init(level: Logger.Level = .notice) { self.level = level }

    public var logger: Logger {
        Logger(label: "test.capture") { _ in Handler(capture: self) }
    }

    public var lines: [Line] { lock.withLock { _lines } }

    /// The lines whose message contains `text`.
    public func lines(containing text: String) -> [Line] { lines.filter { $0.message.contains(text) } }

    fileprivate func add(_ line: Line) { lock.withLock { _lines.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level

        init(capture: LogCapture) {
            self.capture = capture
            logLevel = capture.level
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all: [String: String] = [:]
            for (k, v) in metadata { all[k] = "\(v)" }
            for (k, v) in event.metadata ?? [:] { all[k] = "\(v)" }
            capture.add(Line(level: event.level, message: "\(event.message)", metadata: all))
        }
    }
}
