/// A dedicated thread that runs blocking work (reads, `fdatasync`, file sink writes, a directory watch,
/// opens and closes) one job at a time, so that none of it runs on Swift's cooperative thread pool. With
/// ``GroupCommitter``, on which it is built, the only type in the package that starts threads.
package final class BlockingExecutor: Sendable {
    private let committer: GroupCommitter<@Sendable () -> Void>

    package init(name: String) {
        committer = GroupCommitter(name: name, maxBatchWeight: .max, weight: { _ in 1 }, process: { jobs in
            for job in jobs { job() }
        })
    }

    /// Runs `work` on the executor's thread and returns its result.
    package func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = committer.submit { continuation.resume(with: Result { try work() }) }
            if !accepted { continuation.resume(throwing: OutboxError(.closed, "the executor is stopped")) }
        }
    }

    /// Finishes queued jobs and stops the thread.
    package func stop() { committer.stop() }

    /// Queues `job` without waiting for it (a long-running job, such as a watch loop).
    func start(_ job: @escaping @Sendable () -> Void) {
        _ = committer.submit(job)
    }

    /// Lets the thread finish its queued jobs and end, without waiting for it.
    func finishQueued() { committer.finishQueued() }

    /// Runs `work` as the executor's last job: its thread ends after it (nobody waits for that).
    func runOnce<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = committer.submit { continuation.resume(with: Result { try work() }) }
            if !accepted { continuation.resume(throwing: OutboxError(.closed, "the executor is stopped")) }
            committer.finishQueued()
        }
    }
}

/// Runs one piece of blocking work (an open with its recovery scan, a close) on an executor of its own,
/// which ends with it, and awaits its result: blocking system calls stay off Swift's cooperative pool.
package func onDedicatedThread<T: Sendable>(_ name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await BlockingExecutor(name: name).runOnce(work)
}
