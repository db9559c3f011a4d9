import Outbox

extension OutboxRelay {
    /// Runs the relay until every message appended so far is finished (published, dead-lettered or
    /// expired: nothing pending), then stops it gracefully (its last batch finished) and returns, for an
    /// app's tests. Throws what the relay throws, or ``OutboxError/Code/io`` naming how many messages are
    /// still pending when `timeout` passes first.
    public func runUntilDrained(timeout: Duration = .seconds(30)) async throws {
        let task = Task { try await run() }
        let deadline = ContinuousClock.now + timeout
        var pending: UInt64 = 0
        do {
            while true {
                pending = try OutboxReader(path: path).stats().pending
                if pending == 0 && isActive { break }
                guard ContinuousClock.now < deadline else {
                    throw OutboxError(.io, "\(pending) message(s) still pending after \(timeout)", path: path)
                }
                // The relay may have stopped on an error: that error, not a timeout.
                if case .stopped = status { break }
                try await Task.sleep(for: .milliseconds(5))
            }
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
        task.cancel()
        try await task.value
    }
}
