/// How payloads of older schema versions of an event become the current one, for
/// ``OutboxMessage/decode(as:upgrades:coder:)``.
///
/// Each upgrade decodes a payload of one older version as the type that version had, and makes the
/// current event of it:
///
/// ```swift
/// struct OrderPlacedV1: Decodable, Sendable { var orderID: String; var euros: Double }
///
/// var upgrades = OutboxEventUpgrades()
/// upgrades.register(OrderPlaced.self, from: 1, decoding: OrderPlacedV1.self) { old in
///     OrderPlaced(orderID: old.orderID, cents: Int((old.euros * 100).rounded()))
/// }
/// let order = try stored.decode(as: OrderPlaced.self, upgrades: upgrades)
/// ```
///
/// A value: register once, share it between tasks.
public struct OutboxEventUpgrades: Sendable {
    struct Key: Hashable {
        let eventType: String
        let version: Int
    }

    typealias Upgrade = @Sendable ([UInt8], any OutboxEventCoder) throws -> any OutboxEvent

    private var upgrades: [Key: Upgrade] = [:]

    /// No upgrades: only payloads of the current schema version decode.
    public init() {}

    /// Registers how a payload of `Event` written at schema version `version` (older than
    /// `Event.schemaVersion`) becomes an `Event`: decoded as `Old`, then given to `upgrade`. A second
    /// registration for the same version replaces the first.
    public mutating func register<Event: OutboxEvent, Old: Decodable & Sendable>(
        _ event: Event.Type, from version: Int, decoding old: Old.Type, _ upgrade: @escaping @Sendable (Old) throws -> Event
    ) {
        upgrades[Key(eventType: Event.eventType, version: version)] = { payload, coder in try upgrade(coder.decode(Old.self, from: payload)) }
    }

    /// The versions an upgrade is registered from for `eventType`, in order.
    public func versions(of eventType: String) -> [Int] {
        upgrades.keys.filter { $0.eventType == eventType }.map(\.version).sorted()
    }

    func upgrade(_ eventType: String, from version: Int) -> Upgrade? { upgrades[Key(eventType: eventType, version: version)] }
}
