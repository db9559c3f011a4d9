/// A broker client library that blocks (connects, publishes and waits for acknowledgements on the
/// calling thread). ``BrokerClientSink`` runs it on a dedicated thread.
package protocol BlockingBrokerClient: AnyObject, Sendable {
    /// Connects unless connected; throws ``OutboxError/Code/broker``.
    func connect() throws
    /// Sends every message of `round` at once, waits for the broker's acknowledgements, and returns
    /// one outcome per message in order. The round holds at most one message per ordering key
    /// (``PublishRounds``), so the messages may be pipelined freely.
    func publishRound(_ round: [StoredMessage]) -> [PublishOutcome]
    /// Disconnects and frees the client's resources.
    func close()
}

/// Runs a ``BlockingBrokerClient`` on a dedicated thread, one call at a time, so that none of its
/// blocking calls runs on Swift's cooperative pool, and publishes each batch in the per-key rounds of
/// ``PublishRounds``. The broker sinks (NATS, MQTT, Kafka) are built on it.
package final class BrokerClientSink<Client: BlockingBrokerClient>: Sendable {
    package let client: Client
    private let executor: BlockingExecutor

    package init(_ client: Client, threadName: String) {
        self.client = client
        executor = BlockingExecutor(name: threadName)
    }

    deinit {
        executor.stop()
        client.close()
    }

    package func connect() async throws {
        try await executor.run { [client] in try client.connect() }
    }

    package func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        do {
            return try await executor.run { [client] in
                do { try client.connect() } catch {
                    return Array(repeating: .failed("\(error)"), count: batch.count)
                }
                return PublishRounds.run(batch) { client.publishRound($0) }
            }
        } catch {
            return Array(repeating: .failed("\(error)"), count: batch.count)
        }
    }
}
