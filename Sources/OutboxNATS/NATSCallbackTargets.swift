import Outbox
import Synchronization

/// The observers the NATS client's connection handlers report to. nats.c calls a connection's handlers on
/// its own threads, also while and after `natsConnection_Destroy` runs, so a handler must not hold a
/// pointer to an object that may be gone: it carries a number, and finds the observer here only while
/// the publisher that registered it has not removed it.
enum NATSCallbackTargets {
    private static let targets = Mutex<[Int: AvailabilityObserver]>([:])
    private static let next = Atomic<Int>(1)

    /// Registers `observer`; the returned pointer-sized number is what the handlers get.
    static func register(_ observer: AvailabilityObserver) -> UnsafeMutableRawPointer? {
        let id = next.wrappingAdd(1, ordering: .relaxed).oldValue
        targets.withLock { $0[id] = observer }
        return UnsafeMutableRawPointer(bitPattern: id)
    }

    /// Forgets the observer of `token`: handlers called later do nothing.
    static func remove(_ token: UnsafeMutableRawPointer?) {
        guard let token else { return }
        _ = targets.withLock { $0.removeValue(forKey: Int(bitPattern: token)) }
    }

    /// The observer of `token`, if it is still registered.
    static func observer(_ token: UnsafeMutableRawPointer?) -> AvailabilityObserver? {
        guard let token else { return nil }
        return targets.withLock { $0[Int(bitPattern: token)] }
    }
}
