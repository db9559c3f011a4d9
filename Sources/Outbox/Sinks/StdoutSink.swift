/// Writes each message as a JSON Lines record (``SinkRecord``) to standard output.
public final class StdoutSink: OutboxSink {
    private let executor = BlockingExecutor(name: "outbox-stdout-sink")

    public init() {}

    deinit { executor.stop() }

    public func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        var text = ""
        for m in batch { text += SinkRecord.json(m) + "\n" }
        let bytes = Array(text.utf8)
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
