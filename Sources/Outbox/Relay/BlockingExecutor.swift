/// A dedicated thread that runs blocking work (reads, `fdatasync`, file sink writes) one job at a time,
/// so that none of it runs on Swift's cooperative thread pool.
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
}
