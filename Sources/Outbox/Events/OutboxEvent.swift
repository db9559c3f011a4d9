/// An event an app appends as a value of its own type: the outbox encodes it (JSON unless the outbox is
/// given another ``OutboxEventCoder``), stores its event type and schema version with it, and decodes it
/// again with ``OutboxMessage/decode(as:upgrades:coder:)``, upgrading a payload an older version of the
/// app wrote.
///
/// ```swift
/// struct OrderPlaced: OutboxEvent {
///     static let eventType = "com.example.order.placed"
///     static let schemaVersion = 2
///     var orderID: String
///     var cents: Int
///     var outboxKey: String? { orderID }     // order per order
/// }
/// try await outbox.append(OrderPlaced(orderID: "o-17", cents: 1250))
/// ```
///
/// **The event type** names the event wherever it goes (a broker's type header, the CloudEvents `type`):
/// keep it stable when the Swift type is renamed; the default, the Swift type's name, is not. **The
/// schema version** says which shape of the payload this type encodes: raise it when a change would stop
/// an older payload from decoding, and register how an older payload becomes this one
/// (``OutboxEventUpgrades``): a backlog written before an over-the-air update is published, and decoded,
/// after it.
public protocol OutboxEvent: Codable, Sendable {
    /// The event type stored and published (``OutboxMessage/type``). Default: the Swift type's name.
    static var eventType: String { get }
    /// The version of the payload's schema this type encodes and decodes, at least 1 (stored as
    /// ``OutboxMessage/schemaVersion``). Default 1.
    static var schemaVersion: Int { get }
    /// The ordering key of this event (``OutboxMessage/key``): events with one key are published in the
    /// order they were appended. Default: none. An `append` given a key uses that one.
    var outboxKey: String? { get }
}

extension OutboxEvent {
    public static var eventType: String { String(describing: Self.self) }
    public static var schemaVersion: Int { 1 }
    public var outboxKey: String? { nil }
}
