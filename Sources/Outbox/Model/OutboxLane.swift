/// The lane of a message: which of the relay's read positions and shares it travels by.
///
/// Every message has one. ``normal`` is the default, and a message of an outbox written before lanes
/// existed (format version 5 or older) is in it. ``critical`` and ``bulk`` are the other two lanes the
/// relay knows without configuration; any other name is a lane of its own once the relay is told its
/// weight (until then the relay carries it with ``normal``'s messages, and sinks still see its name).
///
/// **Order.** Messages of one key are published in sequence order *within a lane*: a key whose messages
/// go to two lanes has two orders, and a `critical` message may overtake an older `bulk` one of the same
/// key. Keep a key in one lane where its order matters.
///
/// A lane name is 1 to 32 bytes of lowercase ASCII letters, digits, `-`, `_` and `.`.
public struct OutboxLane: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The lane's name, as stored and as sinks send it (`Outbox-Lane`).
    public let name: String

    /// The lane called `name` (checked when a message in it is appended: ``nameProblem(_:)``).
    public init(_ name: String) { self.name = name }
    public init(stringLiteral name: String) { self.name = name }

    /// Urgent messages (alarms): read by their own position and first in the relay's shares.
    public static let critical = OutboxLane("critical")
    /// The default lane.
    public static let normal = OutboxLane("normal")
    /// Backlog that may wait (bulk telemetry, logs): the smallest share, never none.
    public static let bulk = OutboxLane("bulk")

    public var description: String { name }

    /// The longest lane name, in bytes.
    public static let maxNameLength = 32

    /// Why `name` cannot be a lane's name, if it cannot.
    public static func nameProblem(_ name: String) -> String? {
        let bytes = name.utf8
        if bytes.isEmpty { return "is empty" }
        if bytes.count > maxNameLength { return "is longer than \(maxNameLength) bytes" }
        let allowed = bytes.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
        }
        return allowed ? nil : "holds a character other than a-z, 0-9, '-', '_' and '.'"
    }
}
