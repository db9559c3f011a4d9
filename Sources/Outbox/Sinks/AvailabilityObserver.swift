import Synchronization

/// The observer a sink calls when it learns by itself that it became unreachable or reachable again
/// (see ``OutboxSink/observeAvailabilityChanges(_:)``); safe to call from a client library's threads.
package final class AvailabilityObserver: Sendable {
    private let observer = Mutex<(@Sendable (SinkAvailability) -> Void)?>(nil)
    private let closing = Mutex(false)

    package init() {}

    package func set(_ f: @escaping @Sendable (SinkAvailability) -> Void) { observer.withLock { $0 = f } }

    /// The sink is reachable again.
    package func notify() { notify(.available) }

    /// The sink became reachable or unreachable. A loss reported while the sink closes its own connection
    /// (``whileClosing(_:)``) is not one.
    package func notify(_ change: SinkAvailability) {
        if case .unavailable = change, closing.withLock({ $0 }) { return }
        observer.withLock { $0 }?(change)
    }

    /// Runs `body` (the sink closing its connection on purpose) without reporting the loss it causes.
    package func whileClosing(_ body: () -> Void) {
        closing.withLock { $0 = true }
        defer { closing.withLock { $0 = false } }
        body()
    }
}
