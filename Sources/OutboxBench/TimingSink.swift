import Outbox
import Synchronization

/// A sink around another that records in ``PublishTimings`` when each message it published was
/// acknowledged (one clock reading per batch).
package struct TimingSink: OutboxSink {
    package let inner: any OutboxSink
    package let timings: PublishTimings

    package init(inner: any OutboxSink, timings: PublishTimings) {
        self.inner = inner
        self.timings = timings
    }

    package func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let outcomes = await inner.publish(batch)
        let now = ContinuousClock.now
        timings.published(zip(batch, outcomes).filter { $0.1 == .published }.map { $0.0.seq }, at: now)
        return outcomes
    }

    package func checkAvailability() async throws -> SinkAvailability { try await inner.checkAvailability() }

    package var displayName: String { inner.displayName }

    package func observeAvailability(_ observer: @escaping @Sendable () -> Void) { inner.observeAvailability(observer) }
}
