import Synchronization

/// A value shared between threads (the commit thread and its callers, a client library's callbacks and
/// the relay), behind the package's one lock type.
final class Shared<T: Sendable>: Sendable {
    private let value: Mutex<T>

    init(_ value: T) { self.value = Mutex(value) }

    func get() -> T { value.withLock { $0 } }

    func set(_ v: T) { value.withLock { $0 = v } }

    func mutate(_ body: (inout T) -> Void) { value.withLock { body(&$0) } }
}
