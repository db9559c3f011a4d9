/// Writes each message as a JSON Lines record (``SinkRecord``) to standard output.
public final class StdoutSink: OutboxSink {
    private let executor = BlockingExecutor(name: "outbox-stdout-sink")

    public init() {}

    deinit { executor.stop() }

    public func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let bytes = SinkRecord.lines(batch)
        do {
            try await executor.run {
                try writeFully(1, bytes, path: "standard output")
            }
            return Array(repeating: .published, count: batch.count)
        } catch {
            return Array(repeating: .unavailable("\(error)"), count: batch.count)
        }
    }

    public var displayName: String { "stdout" }
}
