/// A broker client library that blocks (connects, publishes and waits for acknowledgements on the
/// calling thread). ``BrokerSink`` runs it on a dedicated thread.
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
    /// Makes the handshake ``ReconnectWatcher`` tries during an outage, for a client that does not report
    /// its reconnects through ``availability``; nil for one that does. It is called on the watcher's
    /// thread, so it captures only the configuration.
    var reachabilityCheck: (@Sendable () -> any ReachabilityCheck)? { get }
}

/// A broker client that reports each acknowledgement as it arrives, so that ``BrokerSink`` publishes a
/// batch in per-key chains (``PublishChains``) instead of rounds: the next message of a key goes out as
/// soon as the one before it was acknowledged.
package protocol ChainingBrokerClient: BlockingBrokerClient {
    /// Hands `message` to the client: nil when it is in flight, or its outcome if refused at once.
    func send(_ message: StoredMessage) -> PublishOutcome?
    /// Blocks until messages in flight have their outcomes (by sequence number): `count` of them, or
    /// fewer shortly after the first; waits at most the sink's publish timeout for the first. With none in
    /// time, takes back every message still in flight (a late acknowledgement is then dropped) and
    /// returns none.
    func awaitOutcomes(atLeast count: Int) -> [(UInt64, PublishOutcome)]
    /// The outcome of a message whose acknowledgement did not come in time.
    var timedOut: PublishOutcome { get }
}

extension ChainingBrokerClient {
    /// A round is a batch with at most one message per key: its chains are one message long.
    package func publishRound(_ round: [StoredMessage]) -> [PublishOutcome] {
        PublishChains.run(round, send: send, awaitOutcomes: { awaitOutcomes(atLeast: $0) }, timedOut: timedOut)
    }
}

extension BlockingBrokerClient {
    package var reachabilityCheck: (@Sendable () -> any ReachabilityCheck)? { nil }
}
