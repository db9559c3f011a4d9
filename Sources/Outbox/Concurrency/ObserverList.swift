import Synchronization

/// Callbacks run after each durable commit.
final class ObserverList: Sendable {
    private let observers = Mutex<[@Sendable (UInt64) -> Void]>([])

    func add(_ o: @escaping @Sendable (UInt64) -> Void) {
        observers.withLock { $0.append(o) }
    }

    func notify(_ seq: UInt64) {
        for o in observers.withLock({ $0 }) { o(seq) }
    }
}
