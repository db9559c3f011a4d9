import Foundation

/// Outcomes of publishes, by a key the sink chooses (a sequence number, a token), filled in by a client
/// library's callbacks on any thread.
package final class AcknowledgementCollector<Key: Hashable & Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var outcomes: [Key: PublishOutcome] = [:]

    package init() {}

    package func record(_ key: Key, _ outcome: PublishOutcome) {
        condition.lock()
        outcomes[key] = outcome
        if outcomes.count == 1 || outcomes.count >= wanted { condition.signal() }
        condition.unlock()
    }

    /// The outcomes recorded so far; the collector starts empty again.
    package func take() -> [Key: PublishOutcome] {
        condition.lock()
        defer {
            outcomes = [:]
            condition.unlock()
        }
        return outcomes
    }

    /// How many outcomes the waiter of ``take(atLeast:waitingUpTo:)`` waits for: recording wakes it at
    /// the first and once that many are there.
    private var wanted = Int.max

    /// Waits for `count` outcomes (at least one): for the first up to `timeout`, and after it for the
    /// rest up to `grace`; takes what is there (empty when nothing came within `timeout`).
    package func take(atLeast count: Int, waitingUpTo timeout: Duration, grace: Duration = .microseconds(500)) -> [Key: PublishOutcome] {
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        condition.lock()
        defer {
            outcomes = [:]
            wanted = .max
            condition.unlock()
        }
        wanted = max(1, count)
        let end = Date().addingTimeInterval(seconds(timeout))
        var graceEnd: Date?
        while outcomes.count < wanted {
            if graceEnd == nil, !outcomes.isEmpty { graceEnd = min(end, Date().addingTimeInterval(seconds(grace))) }
            if !condition.wait(until: graceEnd ?? end) { break }
        }
        return outcomes
    }
}
