import Foundation

/// What the broker sinks send with each message besides its payload, and the acknowledgements they
/// collect from their client libraries' threads.
package enum BrokerMetadata {
    /// The message's metadata, then its own headers in order: the id under `idName`, then
    /// `outbox-seq`, `outbox-type`, `outbox-created-at` (RFC 3339), `outbox-key` (when it has a key) and
    /// `outbox-lane` (when its lane is not `normal`); with `titleCase`, `Outbox-Seq` and so on.
    package static func headers(_ m: StoredMessage, idName: String, titleCase: Bool = false) -> [(name: String, value: String)] {
        let names = titleCase ? titleCaseNames : lowerCaseNames
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(6 + m.message.headers.count)
        fields.append((idName, m.message.id.description))
        fields.append((names.seq, String(m.seq)))
        fields.append((names.type, m.message.type))
        fields.append((names.createdAt, rfc3339(micros: m.message.createdAtMicros)))
        if let key = m.message.key { fields.append((names.key, key)) }
        if m.message.lane != .normal { fields.append((names.lane, m.message.lane.name)) }
        for h in m.message.headers { fields.append((h.name, h.value)) }
        return fields
    }

    private typealias Names = (seq: String, type: String, createdAt: String, key: String, lane: String)
    private static let lowerCaseNames: Names = ("outbox-seq", "outbox-type", "outbox-created-at", "outbox-key", "outbox-lane")
    private static let titleCaseNames: Names = ("Outbox-Seq", "Outbox-Type", "Outbox-Created-At", "Outbox-Key", "Outbox-Lane")
}
