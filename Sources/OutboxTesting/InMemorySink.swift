import Foundation
import Outbox

/// A sink for an app's tests: it keeps what it publishes in memory, in order, and answers each message
/// with ``decide`` (published, unless the test says otherwise).
///
/// ```swift
/// let sink = InMemorySink()
/// try await OutboxRelay(path: dir.path, sink: sink, outbox: outbox).runUntilDrained()
/// let orders = try sink.published.map { try $0.decode(as: OrderPlaced.self) }
/// ```
public final class InMemorySink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _published: [StoredMessage] = []
    private var _attempts: [UInt64: Int] = [:]
    /// The outcome of one attempt to publish a message (attempts count from 1).
    public let decide: @Sendable (StoredMessage, Int) -> PublishOutcome

    /// A sink that publishes every message, or answers as `decide` says (to test retries, dead letters
    /// and outages).
    public init(decide: @escaping @Sendable (StoredMessage, Int) -> PublishOutcome = { _, _ in .published }) {
        self.decide = decide
    }

    /// What it published, in the order it did.
    public var published: [StoredMessage] { lock.withLock { _published } }

    /// How many times it was asked to publish the message of sequence number `seq`.
    public func attempts(_ seq: UInt64) -> Int { lock.withLock { _attempts[seq] ?? 0 } }

    /// Forgets what it published.
    public func reset() { lock.withLock { _published.removeAll() } }

    public var displayName: String { "in-memory sink" }

    public func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        await publishInOrder(batch) { m in
            lock.withLock {
                _attempts[m.seq, default: 0] += 1
                let outcome = decide(m, _attempts[m.seq]!)
                if outcome == .published { _published.append(m) }
                return outcome
            }
        }
    }
}
