import Outbox
import Synchronization

/// A sink around another that counts the messages it acknowledged and notes when the last batch was
/// (one lock per batch: the drain measures the relay, not its bookkeeping).
package final class CountingSink: OutboxSink {
    package let inner: any OutboxSink
    private let state = Mutex<(published: Int, last: ContinuousClock.Instant?)>((0, nil))

    package init(inner: any OutboxSink) { self.inner = inner }

    package func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let outcomes = await inner.publish(batch)
        var n = 0
        for o in outcomes where o == .published { n += 1 }
        let now = ContinuousClock.now
        state.withLock {
            $0.published += n
            $0.last = now
        }
        return outcomes
    }

    /// Messages acknowledged so far (a message published twice counts twice).
    package var published: Int { state.withLock { $0.published } }
    package var lastPublished: ContinuousClock.Instant? { state.withLock { $0.last } }

    package func checkAvailability() async throws -> SinkAvailability { try await inner.checkAvailability() }
    package var displayName: String { inner.displayName }
    package func observeAvailability(_ observer: @escaping @Sendable () -> Void) { inner.observeAvailability(observer) }
}
