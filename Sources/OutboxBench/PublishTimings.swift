import Outbox
import Synchronization

/// When each message was committed and when a sink acknowledged it, by sequence number; the demo and
/// the benchmark's live phase measure commit-to-publish latency with it.
package final class PublishTimings: Sendable {
    private let state = Mutex((committed: [UInt64: ContinuousClock.Instant](), commitLatencies: [Duration](),
                               published: [UInt64: ContinuousClock.Instant]()))

    package init() {}

    /// Records that `append` returned `seq` at `t`, after `latency`.
    package func committed(_ seq: UInt64, at t: ContinuousClock.Instant, latency: Duration) {
        committed([(seq, t, latency)])
    }

    /// Records many commits at once: `(seq, when append returned, its latency)`.
    package func committed(_ records: [(seq: UInt64, at: ContinuousClock.Instant, latency: Duration)]) {
        state.withLock {
            for r in records {
                $0.committed[r.seq] = r.at
                $0.commitLatencies.append(r.latency)
            }
        }
    }

    /// Records that a sink acknowledged `seqs` at `t` (only the first acknowledgement of each counts).
    package func published(_ seqs: [UInt64], at t: ContinuousClock.Instant) {
        state.withLock { s in for seq in seqs where s.published[seq] == nil { s.published[seq] = t } }
    }

    package var committedCount: Int { state.withLock { $0.committed.count } }
    package var publishedCount: Int { state.withLock { $0.published.count } }
    /// The instant the last first acknowledgement was recorded.
    package var lastPublished: ContinuousClock.Instant? { state.withLock { $0.published.values.max() } }
    /// Sorted `append` latencies.
    package func commitLatencies() -> [Duration] { state.withLock { $0.commitLatencies.sorted() } }
    /// Sorted times from `append` returning to the sink's acknowledgement, for messages both recorded.
    package func commitToPublishLatencies() -> [Duration] {
        state.withLock { s in
            s.published.compactMap { seq, t in s.committed[seq].map { max(.zero, t - $0) } }.sorted()
        }
    }
}

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
