/// The base of the broker sinks (`NATSSink`, `MQTTSink`, `KafkaSink`): it runs a blocking broker client
/// on a dedicated thread, one call at a time, so that none of its blocking calls runs on Swift's
/// cooperative pool, and publishes each batch in per-key chains (for a client that reports each
/// acknowledgement as it comes: the next message of a key goes as soon as the one before it is
/// acknowledged) or in per-key rounds.
///
/// A broker that cannot be connected to makes the whole batch ``PublishOutcome/unavailable(_:)``.
open class BrokerSink: OutboxSink, @unchecked Sendable {
    private let client: any BlockingBrokerClient
    private let executor: BlockingExecutor
    private let watcher: ReconnectWatcher?

    package init(client: any BlockingBrokerClient, threadName: String) {
        self.client = client
        executor = BlockingExecutor(name: threadName)
        watcher = client.reachabilityCheck.map { ReconnectWatcher(name: "\(threadName)-watch", observer: client.availability, makeCheck: $0) }
    }

    deinit {
        watcher?.stop()
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
        let availability = try await executor.run { [client] () -> SinkAvailability in
            do { try client.connect() } catch let e as OutboxError where e.code == .broker {
                return .unavailable(e.message)
            }
            return client.probe().map { .unavailable($0) } ?? .available
        }
        watch(unavailable: availability != .available)
        return availability
    }

    public final func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let outcomes = await publishOnThread(batch)
        watch(unavailable: outcomes.contains { if case .unavailable = $0 { true } else { false } })
        return outcomes
    }

    /// While the broker is unreachable, a ``ReconnectWatcher`` looks for its return (for a client that
    /// does not say when it reconnected).
    private func watch(unavailable: Bool) {
        if unavailable { watcher?.start() } else { watcher?.stop() }
    }

    private func publishOnThread(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        do {
            return try await executor.run { [client] in
                do { try client.connect() } catch {
                    return Array(repeating: .unavailable("\(error)"), count: batch.count)
                }
                if let chaining = client as? any ChainingBrokerClient {
                    return PublishChains.run(batch, send: chaining.send, awaitOutcomes: { chaining.awaitOutcomes(atLeast: $0) }, timedOut: chaining.timedOut)
                }
                return PublishRounds.run(batch) { client.publishRound($0) }
            }
        } catch {
            return Array(repeating: .unavailable("\(error)"), count: batch.count)
        }
    }

    public final func observeAvailability(_ observer: @escaping @Sendable () -> Void) {
        client.availability.set { if $0 == .available { observer() } }
    }

    public final func observeAvailabilityChanges(_ observer: @escaping @Sendable (SinkAvailability) -> Void) {
        client.availability.set(observer)
    }

    /// Whether the sink looks for the broker's return itself during an outage (for tests).
    package final var hasReconnectWatcher: Bool { watcher != nil }

    /// The broker's address and destination, with every secret removed.
    public final var displayName: String { client.displayName }

    /// The protocol's bytes per message on the wire, for an uplink cap (``OutboxSink/framingBytes``);
    /// each broker's sink says its own. Default 64.
    open var framingBytes: Int { 64 }
}
