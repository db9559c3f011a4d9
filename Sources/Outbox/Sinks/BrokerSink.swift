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

/// The base of the broker sinks (`NATSSink`, `MQTTSink`, `KafkaSink`): it runs a blocking broker client
/// on a dedicated thread, one call at a time, so that none of its blocking calls runs on Swift's
/// cooperative pool, and publishes each batch in the per-key rounds of ``PublishRounds``.
///
/// A broker that cannot be connected to makes the whole batch ``PublishOutcome/unavailable(_:)``.
open class BrokerSink: OutboxSink, @unchecked Sendable {
    private let client: any BlockingBrokerClient
    private let executor: BlockingExecutor

    package init(client: any BlockingBrokerClient, threadName: String) {
        self.client = client
        executor = BlockingExecutor(name: threadName)
    }

    deinit {
        executor.stop()
        client.close()
    }

    /// Connects now rather than at the first publish. Throws ``OutboxError/Code/broker`` when the broker
    /// cannot be reached and ``OutboxError/Code/invalidArgument`` when it refuses the configuration.
    public final func connect() async throws {
        try await executor.run { [client] in try client.connect() }
    }

    /// Connects (checking the configuration on a new connection) and probes the broker.
    public final func checkAvailability() async throws -> SinkAvailability {
        try await executor.run { [client] in
            do { try client.connect() } catch let e as OutboxError where e.code == .broker {
                return .unavailable(e.message)
            }
            return client.probe().map { .unavailable($0) } ?? .available
        }
    }

    public final func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
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

    public final func observeAvailability(_ observer: @escaping @Sendable () -> Void) { client.availability.set(observer) }

    /// The broker's address and destination, with every secret removed.
    public final var displayName: String { client.displayName }
}
