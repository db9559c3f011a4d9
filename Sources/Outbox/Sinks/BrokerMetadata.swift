import Foundation

/// What the broker sinks send with each message besides its payload, and the acknowledgements they
/// collect from their client libraries' threads.
package enum BrokerMetadata {
    /// The message's metadata, then its own headers in order: the id under `idName`, then
    /// `outbox-seq`, `outbox-type`, `outbox-created-at` (RFC 3339) and `outbox-key` (when it has a
    /// key); with `titleCase`, `Outbox-Seq` and so on.
    package static func headers(_ m: StoredMessage, idName: String, titleCase: Bool = false) -> [(name: String, value: String)] {
        var fields: [(String, String)] = [
            ("outbox-seq", String(m.seq)),
            ("outbox-type", m.message.type),
            ("outbox-created-at", rfc3339(micros: m.message.createdAtMicros)),
        ]
        if let key = m.message.key { fields.append(("outbox-key", key)) }
        let named = fields.map { (titleCase ? $0.0.split(separator: "-").map(\.capitalized).joined(separator: "-") : $0.0, $0.1) }
        return [(idName, m.message.id.description)] + named + m.message.headers.map { ($0.name, $0.value) }
    }
}

/// Outcomes of one round of publishes, by a key the sink chooses (a sequence number, a token), filled
/// in by a client library's callbacks on any thread.
package final class AcknowledgementCollector<Key: Hashable & Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [Key: PublishOutcome] = [:]

    package init() {}

    package func record(_ key: Key, _ outcome: PublishOutcome) {
        lock.withLock { outcomes[key] = outcome }
    }

    /// The outcomes recorded so far; the collector starts empty again.
    package func take() -> [Key: PublishOutcome] {
        lock.withLock {
            defer { outcomes = [:] }
            return outcomes
        }
    }
}
