/// Hears from the writer, on its commit thread, that commits are durable: the one route by which the
/// durable mark leaves the writer in its process (`writer.durable`, the writer's own file, carries it to
/// other processes). Passed to the writer when it is made.
protocol CommitListener: AnyObject {
    /// Every number through `last` is durable; called before the callers of the commit are completed,
    /// so that a relay in this process that sees a caller's message also sees it reported durable.
    func durable(through last: UInt64)
}
