import Synchronization

/// Outcomes of one round of publishes, by a key the sink chooses (a sequence number, a token), filled
/// in by a client library's callbacks on any thread.
package final class AcknowledgementCollector<Key: Hashable & Sendable>: Sendable {
    private let outcomes = Mutex<[Key: PublishOutcome]>([:])

    package init() {}

    package func record(_ key: Key, _ outcome: PublishOutcome) {
        outcomes.withLock { $0[key] = outcome }
    }

    /// The outcomes recorded so far; the collector starts empty again.
    package func take() -> [Key: PublishOutcome] {
        outcomes.withLock { o in
            defer { o = [:] }
            return o
        }
    }
}
