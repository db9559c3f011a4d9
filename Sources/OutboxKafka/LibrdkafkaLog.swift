import Logging
import Synchronization

/// Where librdkafka's own log lines go: to the sink's logger instead of raw to standard error (which
/// would break `--log-format json` and journald levels). librdkafka calls its log callback on its
/// internal threads, where no librdkafka function (not even the one that finds a handle's context) may
/// be called, so the destination is one per process: the logger of the Kafka sink made last.
///
/// Its connection errors repeat, once per attempt, what the relay already says once about an outage, so
/// librdkafka's errors and warnings are logged at info (hidden at the default level, notice), its
/// notices and informational lines at debug, and only its critical lines at error.
enum LibrdkafkaLog {
    private static let destination = Mutex<Logger?>(nil)

    static func use(_ logger: Logger) { destination.withLock { $0 = logger } }

    static func level(syslog: Int32) -> Logger.Level {
        switch syslog {
        case ...2: .error
        case 3, 4: .info
        case 5, 6: .debug
        default: .trace
        }
    }

    static let callback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { _, level, facility, text in
        guard let logger = destination.withLock({ $0 }), let text else { return }
        logger.log(level: Self.level(syslog: level), "librdkafka: \(String(cString: text))",
                   metadata: facility.map { ["facility": "\(String(cString: $0))"] })
    }
}
