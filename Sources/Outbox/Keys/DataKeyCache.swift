import Crypto
import Synchronization

/// The data keys derived from master keys (FORMAT.md §10: one per file and writer epoch), kept so that
/// a reader derives each once, not once per frame. Bounded: when full, it starts over.
final class DataKeyCache: Sendable {
    struct Name: Hashable {
        var key: OutboxKeys.ID
        var kind: UInt64
        var base: UInt64
        var epoch: UInt64
    }

    private let keys = Mutex<[Name: SymmetricKey]>([:])
    private static let capacity = 256

    /// The key named `name`, derived by `derive` the first time.
    func key(_ name: Name, derive: () -> SymmetricKey) -> SymmetricKey {
        if let k = keys.withLock({ $0[name] }) { return k }
        let k = derive()
        keys.withLock {
            if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
            $0[name] = k
        }
        return k
    }
}
