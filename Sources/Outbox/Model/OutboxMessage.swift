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

/// A message as read back from the outbox: its sequence number, where it is stored, and whether it
/// has been finished.
public struct StoredMessage: Sendable, Equatable {
    /// The sequence number assigned at commit: dense, starting at 1, never reused.
    public var seq: UInt64
    public var message: OutboxMessage
    /// The segment file holding it.
    public var segment: String
    /// The byte offset of its commit's frame in ``segment``.
    public var offset: Int64
    /// Whether the payload is stored deflate-compressed.
    public var compressed: Bool
    /// The key a sink must keep order within: the message's key, or (under the relay's strict order)
    /// one key shared by every message; nil means no ordering constraint.
    public var orderingKey: String?

    /// A stored message as the relay hands it to a sink (public so that sinks can be tested alone);
    /// the ordering key is the message's key.
    public init(seq: UInt64, message: OutboxMessage, segment: String, offset: Int64, compressed: Bool) {
        self.seq = seq
        self.message = message
        self.segment = segment
        self.offset = offset
        self.compressed = compressed
        self.orderingKey = message.key
    }
}

/// What became of a message.
public enum MessageStatus: String, Sendable, Codable {
    /// Appended, not yet confirmed by a sink.
    case pending
    /// Confirmed by a sink and tombstoned.
    case published
    /// Given up on and tombstoned (see the dead-letter log).
    case dead
}

extension StoredMessage {
    /// About how much memory the message takes when held (payload, type, key, headers and a fixed
    /// overhead): what the relay's and the log tail's byte bounds count.
    var footprint: Int {
        message.payload.count + message.type.utf8.count + (message.key?.utf8.count ?? 0)
            + message.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count } + 128
    }
}
