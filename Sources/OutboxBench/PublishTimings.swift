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
