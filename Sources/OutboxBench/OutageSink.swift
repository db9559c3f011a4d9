import Foundation
import Outbox
import Synchronization

/// A sink around another that can be taken away and brought back, as an uplink goes away: while it is
/// down, every message of a batch is reported ``PublishOutcome/unavailable(_:)`` without reaching the
/// inner sink, and ``checkAvailability()`` says unavailable. The demo uses it to show an outage being
/// waited out; tests use it to drive the relay through one.
package final class OutageSink: OutboxSink {
    package let inner: any OutboxSink
    private let state = Mutex<(down: Bool, refusedBatches: Int, refusedProbes: Int)>((false, 0, 0))

    package init(inner: any OutboxSink) { self.inner = inner }

    /// Takes the sink away: from now on nothing reaches the inner sink.
    package func takeDown() { state.withLock { $0.down = true } }

    /// Brings the sink back.
    package func bringBack() { state.withLock { $0.down = false } }

    package var isDown: Bool { state.withLock { $0.down } }

    /// How many batches and probes were refused while the sink was down.
    package var refused: (batches: Int, probes: Int) { state.withLock { ($0.refusedBatches, $0.refusedProbes) } }

    package func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let down = state.withLock { s -> Bool in
            if s.down { s.refusedBatches += 1 }
            return s.down
        }
        if down { return Array(repeating: .unavailable("the sink was taken away"), count: batch.count) }
        return await inner.publish(batch)
    }

    package func checkAvailability() async throws -> SinkAvailability {
        let down = state.withLock { s -> Bool in
            if s.down { s.refusedProbes += 1 }
            return s.down
        }
        return down ? .unavailable("the sink was taken away") : try await inner.checkAvailability()
    }

    package var displayName: String { inner.displayName }

    package func observeAvailability(_ observer: @escaping @Sendable () -> Void) { inner.observeAvailability(observer) }
}
