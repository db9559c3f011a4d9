import Foundation

/// One event to be published.
///
/// Everything here is stored and read back exactly: the id, the creation time (to the microsecond), the
/// type, the optional ordering key, the headers in their order, and the payload bytes.
public struct OutboxMessage: Sendable, Equatable {
    /// One header; headers keep their order and may repeat a name.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The deduplication id (UUIDv7 unless the caller gives one).
    public var id: MessageID
    /// When the message was created, rounded to the microsecond.
    public var createdAt: Date {
        get { Date(timeIntervalSince1970: Double(createdAtMicros) / 1_000_000) }
        set { createdAtMicros = Self.micros(newValue) }
    }
    /// The creation time in microseconds since the Unix epoch (what is stored).
    public var createdAtMicros: Int64
    /// The event type, for example `UserRegistered`.
    public var type: String
    /// The ordering key: messages with the same key are published in sequence order.
    public var key: String?
    /// Ordered string headers (trace context goes here).
    public var headers: [Header]
    /// The payload bytes.
    public var payload: [UInt8]

    public init(
        id: MessageID = .v7(), type: String, key: String? = nil, headers: [Header] = [],
        payload: [UInt8], createdAt: Date = Date()
    ) {
        self.id = id
        self.type = type
        self.key = key
        self.headers = headers
        self.payload = payload
        self.createdAtMicros = Self.micros(createdAt)
    }

    static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }
}
