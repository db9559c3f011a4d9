import Synchronization

/// The observer a sink calls when it is reachable again (see ``OutboxSink/observeAvailability(_:)``);
/// safe to call from a client library's threads.
package final class AvailabilityObserver: Sendable {
    private let observer = Mutex<(@Sendable () -> Void)?>(nil)

    package init() {}

    package func set(_ f: @escaping @Sendable () -> Void) { observer.withLock { $0 = f } }

    package func notify() { observer.withLock { $0 }?() }
}
