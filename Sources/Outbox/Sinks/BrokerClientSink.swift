/// A broker client library that blocks (connects, publishes and waits for acknowledgements on the
/// calling thread). ``BrokerClientSink`` runs it on a dedicated thread.
package protocol BlockingBrokerClient: AnyObject, Sendable {
    /// Connects unless connected, and on a new connection checks the sink's configuration against the
    /// broker. Throws ``OutboxError/Code/broker`` when the broker cannot be reached (an outage) and
    /// ``OutboxError/Code/invalidArgument`` for a definite misconfiguration (bad credentials, a stream
    /// that does not cover the subject, a topic that does not exist).
    func connect() throws
    /// Asks the connected broker for an answer (a round trip within the client's timeout): nil when it
    /// answered, otherwise why not.
    func probe() -> String?
    /// Sends every message of `round` at once, waits for the broker's acknowledgements, and returns
    /// one outcome per message in order. The round holds at most one message per ordering key
    /// (``PublishRounds``), so the messages may be pipelined freely.
    func publishRound(_ round: [StoredMessage]) -> [PublishOutcome]
    /// Disconnects and frees the client's resources.
    func close()
    /// The broker's address for logs, with every secret removed.
    var displayName: String { get }
    /// Called when the client reconnected by itself (``OutboxSink/observeAvailability(_:)``), if it can tell.
    var availability: AvailabilityObserver { get }
}

/// Runs a ``BlockingBrokerClient`` on a dedicated thread, one call at a time, so that none of its
/// blocking calls runs on Swift's cooperative pool, and publishes each batch in the per-key rounds of
/// ``PublishRounds``. The broker sinks (NATS, MQTT, Kafka) are built on it.
///
/// A broker that cannot be connected to makes the whole batch ``PublishOutcome/unavailable(_:)``.
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

    package func observeAvailability(_ observer: @escaping @Sendable () -> Void) { client.availability.set(observer) }

    package func connect() async throws {
        try await executor.run { [client] in try client.connect() }
    }

    /// Connects (checking the configuration on a new connection) and probes the broker.
    package func checkAvailability() async throws -> SinkAvailability {
        try await executor.run { [client] in
            do { try client.connect() } catch let e as OutboxError where e.code == .broker {
                return .unavailable(e.message)
            }
            return client.probe().map { .unavailable($0) } ?? .available
        }
    }

    package func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        do {
            return try await executor.run { [client] in
                do { try client.connect() } catch {
                    return Array(repeating: .unavailable("\(error)"), count: batch.count)
                }
                return PublishRounds.run(batch) { client.publishRound($0) }
            }
        } catch {
            return Array(repeating: .unavailable("\(error)"), count: batch.count)
        }
    }
}
