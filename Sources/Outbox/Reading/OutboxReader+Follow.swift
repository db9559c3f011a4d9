import Logging

extension OutboxReader {
    /// Follows the outbox like `tail -f`: yields every message committed from `from` on (default: the
    /// next one to be committed), as soon as its frame is durable, woken by inotify (with a one-second
    /// poll as the fallback). Read-only; ends when the consuming task is cancelled.
    public func follow(from: UInt64? = nil, logger: Logger = Logger(label: "outbox.follow")) -> AsyncThrowingStream<StoredMessage, any Error> {
        let (stream, continuation) = AsyncThrowingStream<StoredMessage, any Error>.makeStream()
        let directory = self.directory, outboxID = self.outboxID, path = self.path
        let task = Task {
            let io = BlockingExecutor(name: "outbox-follow")
            let wake = WakeSignal()
            let watcher = DirectoryWatcher(path: path, logger: logger) { _ in wake.signal() }
            defer {
                watcher?.stop()
                io.finishQueued()  // every job was awaited: its thread ends without being waited for
            }
            do {
                let start: UInt64
                if let from { start = from } else { start = try await io.run { try self.stats().lastSeq + 1 } }
                let tail = UnsafeTransfer(LogTail(directory: directory, outboxID: outboxID, from: start))
                while !Task.isCancelled {
                    let batch = try await io.run { try tail.value.read(limit: 1000) }
                    for m in batch { continuation.yield(m) }
                    if batch.isEmpty { await wake.wait(for: .seconds(1)) }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
