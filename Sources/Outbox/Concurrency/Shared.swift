import Synchronization

/// A value shared between threads (the commit thread and its callers, a client library's callbacks and
/// the relay), behind the package's one lock type.
package final class Shared<T: Sendable>: Sendable {
    private let value: Mutex<T>

    package init(_ value: T) { self.value = Mutex(value) }

    package func get() -> T { value.withLock { $0 } }

    package func set(_ v: T) { value.withLock { $0 = v } }

    package func mutate(_ body: (inout T) -> Void) { value.withLock { body(&$0) } }
}
