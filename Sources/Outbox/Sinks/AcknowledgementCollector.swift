import Foundation

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
