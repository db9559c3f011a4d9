/// The writer's durable mark in this process: the last sequence number made durable, and who is told
/// when it moves (an in-process relay). The writer reports to it as its ``CommitListener``, on the
/// commit thread, before the callers of each commit are completed.
final class WriterDurability: CommitListener, Sendable {
    private let last = Shared<UInt64>(0)
    private let observers = ObserverList()

    /// The last sequence number made durable (0 before the first commit).
    var mark: UInt64 { last.get() }

    /// Calls `observer` on the commit thread after every commit; it must return quickly.
    func observe(_ observer: @escaping @Sendable (UInt64) -> Void) { observers.add(observer) }

    func durable(through last: UInt64) {
        self.last.set(last)
        observers.notify(last)
    }
}
