import Foundation

/// One event to be published.
///
/// Everything here is stored and read back exactly: the id, the creation time (to the microsecond), the
/// type, the optional ordering key, the headers in their order, and the payload bytes.
///
/// **The id's lifetime.** A message built without an id has ``MessageID/unassigned``, and one built
/// without a creation time has none either (``createdAtMicros`` 0). Both are given when the message is
/// appended: a new UUIDv7 each, and the time of the `append` call. So a value copied or appended twice
/// becomes two messages with two ids, and a template can be reused:
///
/// ```swift
/// let template = OutboxMessage(type: "Reading", key: "s1", payload: [])
/// let batch = (0..<5).map { i in var m = template; m.payload = Array("\(i)".utf8); return m }
/// try await outbox.append(contentsOf: batch)   // five messages, five ids
/// ```
///
/// An id the caller sets (the initializers' `id:`, or ``id``) is kept: appending
/// the same id again is deliberate, and a broker that deduplicates (NATS JetStream) publishes it once.
/// A commit that holds one id twice is refused (``OutboxError/Code/invalidArgument``). Read the ids given
/// at append from ``OutboxReader`` or from what the relay publishes (``StoredMessage/message``).
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

    /// The deduplication id: the caller's, or ``MessageID/unassigned`` until the message is appended, which
    /// gives it a new UUIDv7. Stored messages always have one.
    public var id: MessageID
    /// When the message was created, rounded to the microsecond: the caller's time, or the time of the
    /// `append` call that stored it (the Unix epoch until then). Messages appended concurrently may commit
    /// in another order than their calls, so times are ordered by sequence number only within one caller.
    public var createdAt: Date {
        get { Date(timeIntervalSince1970: Double(createdAtMicros) / 1_000_000) }
        set { createdAtMicros = Self.micros(newValue) }
    }
    /// The creation time in microseconds since the Unix epoch (what is stored); 0 means "not set yet":
    /// `append` sets it.
    public var createdAtMicros: Int64
    /// The event type, for example `UserRegistered`.
    public var type: String
    /// The ordering key: messages with the same key are published in sequence order.
    public var key: String?
    /// Ordered string headers (trace context goes here).
    public var headers: [Header]
    /// The payload bytes.
    public var payload: [UInt8]
    /// The lane it travels by (``OutboxLane/normal`` unless set): the relay reads each lane by its own
    /// position and shares the uplink between lanes by weight; order per key holds within a lane.
    public var lane: OutboxLane
    /// The version of the payload's schema, for a message of a typed event (``OutboxEvent/schemaVersion``),
    /// stored with it (FORMAT.md §4) so that a reader of a later app version can upgrade it
    /// (``StoredMessage/decode(as:upgrades:coder:)``). Nil: not said. 0 ... 4294967295.
    public var schemaVersion: Int?

    /// A message to append. Without `id` and `createdAt`, `append` gives it a new UUIDv7 and the time of
    /// the call (see the id's lifetime above).
    public init(
        id: MessageID? = nil, type: String, key: String? = nil, headers: [Header] = [],
        payload: [UInt8], createdAt: Date? = nil, lane: OutboxLane = .normal, schemaVersion: Int? = nil
    ) {
        self.schemaVersion = schemaVersion
        self.id = id ?? .unassigned
        self.type = type
        self.key = key
        self.headers = headers
        self.payload = payload
        self.createdAtMicros = createdAt.map(Self.micros) ?? 0
        self.lane = lane
    }

    /// A message whose payload is `payload`'s bytes (what `JSONEncoder` and most encoders give), as the
    /// initializer taking a byte array does.
    public init(
        id: MessageID? = nil, type: String, key: String? = nil, headers: [Header] = [],
        payload: Data, createdAt: Date? = nil, lane: OutboxLane = .normal, schemaVersion: Int? = nil
    ) {
        self.init(id: id, type: type, key: key, headers: headers, payload: [UInt8](payload), createdAt: createdAt, lane: lane,
                  schemaVersion: schemaVersion)
    }

    /// The payload as `Data` (for `JSONDecoder` and most decoders).
    public var payloadData: Data {
        get { Data(payload) }
        set { payload = [UInt8](newValue) }
    }

    /// Gives this message its id and creation time if the caller set none (what `append` does).
    mutating func stamp(now micros: Int64, idTime: Date) {
        if !id.isAssigned { id = .v7(now: idTime) }
        if createdAtMicros == 0 { createdAtMicros = micros }
    }

    static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }
}
