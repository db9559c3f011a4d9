import Foundation
import Synchronization

/// What became of one message handed to a sink.
///
/// Three kinds of failure are told apart, because they call for different remedies:
/// - ``unavailable(_:)``: the *sink* could not be reached. It says nothing about the message, so no
///   attempt is counted against it: the relay pauses the whole sink and waits the outage out.
/// - ``failed(_:)``: *this message* failed, transiently: it is retried with backoff, at most
///   ``OutboxRelayConfiguration/maxAttempts`` times.
/// - ``rejected(_:)``: *this message* can never be published (too large, an invalid header): it is
///   dead-lettered at once.
public enum PublishOutcome: Sendable, Equatable {
    /// The sink accepted it (durably, as far as the sink can tell).
    case published
    /// A transient failure of this message: the relay retries it with backoff and counts an attempt.
    case failed(String)
    /// A permanent refusal: the relay dead-letters it at once.
    case rejected(String)
    /// The sink itself is unavailable (not connected, connection refused or dropped, no answer in time,
    /// no responders, the broker says "try later", the sink's disk is full): the message was not judged.
    /// No attempt is counted; the relay pauses the sink and probes it until it answers again.
    case unavailable(String)

    /// Whether this outcome says the sink is unavailable.
    public var isUnavailable: Bool {
        if case .unavailable = self { return true }
        return false
    }

    /// Whether this outcome stops the later messages of the same ordering key in a batch.
    var holdsBackKey: Bool { self != .published }
}

/// What a sink's ``OutboxSink/checkAvailability()`` found.
public enum SinkAvailability: Sendable, Equatable {
    /// The sink answers and is configured as it should be.
    case available
    /// The sink cannot be reached now (the reason says why); an outage to wait out, not an error.
    case unavailable(String)
}

/// Where the relay publishes: an event bus, a file, standard output.
///
/// **Contract.** ``publish(_:)`` gets a batch in sequence order, which may hold several messages of one
/// key, and returns exactly one outcome per message, in the same order. The relay tombstones a message
/// only after its outcome is `.published`, so a sink sees a message at least once; use
/// ``StoredMessage/message``'s `id` as the deduplication key. To keep order, a sink must not publish a
/// message after an earlier message *with the same ``StoredMessage/orderingKey`` in the batch* failed:
/// report it as failed too (``publishInOrder(_:_:)`` does this for sinks that publish one message at a
/// time). Under the relay's strict order every message has the same ordering key.
/// The relay calls ``publish(_:)`` from one task at a time.
///
/// **Outages.** Report ``PublishOutcome/unavailable(_:)`` when the sink, not the message, is the
/// problem; after one, report every later message of the batch as unavailable too without trying it
/// (``publishInOrder(_:_:)`` and ``PublishRounds`` do). The relay then stops publishing and calls
/// ``checkAvailability()`` with capped exponential backoff until it returns
/// ``SinkAvailability/available``.
public protocol OutboxSink: Sendable {
    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome]

    /// Connects if the sink has a connection, and checks its configuration. The relay calls it before
    /// the first message and, while the sink is unavailable, as its probe.
    ///
    /// Returns ``SinkAvailability/unavailable(_:)`` when the sink cannot be reached now (an outage),
    /// and throws ``OutboxError`` (code ``OutboxError/Code/invalidArgument``) for a definite
    /// misconfiguration that waiting cannot fix (a stream that does not cover the subject, bad
    /// credentials, an unknown option). The default returns ``SinkAvailability/available``: such a
    /// sink's next batch is its probe.
    func checkAvailability() async throws -> SinkAvailability

    /// What the sink is, for logs: its kind and address, never a password, token or credential.
    var displayName: String { get }

    /// Registers `observer`, to be called (from any thread) when the sink learns by itself that it is
    /// reachable again, for example when its client library reconnected in the background. The relay
    /// then probes at once instead of at the end of its backoff. The default never calls it.
    func observeAvailability(_ observer: @escaping @Sendable () -> Void)
}

extension OutboxSink {
    public func checkAvailability() async throws -> SinkAvailability { .available }
    public var displayName: String { String(describing: type(of: self)) }
    public func observeAvailability(_ observer: @escaping @Sendable () -> Void) {}
}

/// The observer a sink calls when it is reachable again (see ``OutboxSink/observeAvailability(_:)``);
/// safe to call from a client library's threads.
package final class AvailabilityObserver: Sendable {
    private let observer = Mutex<(@Sendable () -> Void)?>(nil)

    package init() {}

    package func set(_ f: @escaping @Sendable () -> Void) { observer.withLock { $0 = f } }

    package func notify() { observer.withLock { $0 }?() }
}

extension OutboxSink {
    /// Publishes one message at a time with `publishOne`, skipping (as failed) every later message of an
    /// ordering key once one of that key failed.
    public func publishInOrder(
        _ batch: [StoredMessage], _ publishOne: (StoredMessage) async -> PublishOutcome
    ) async -> [PublishOutcome] {
        var failedKeys = Set<String>()
        var outcomes: [PublishOutcome] = []
        outcomes.reserveCapacity(batch.count)
        var outage: String?
        for m in batch {
            if let outage {
                outcomes.append(.unavailable(outage))
                continue
            }
            if let key = m.orderingKey, failedKeys.contains(key) {
                outcomes.append(.failed("an earlier message of ordering key \(key) failed in this batch"))
                continue
            }
            let outcome = await publishOne(m)
            if case .unavailable(let why) = outcome { outage = why }
            if outcome.holdsBackKey, let key = m.orderingKey { failedKeys.insert(key) }
            outcomes.append(outcome)
        }
        return outcomes
    }
}

/// Pipelined publishing that keeps per-key order, for sinks that send many messages before waiting
/// for the broker's acknowledgements.
///
/// The batch is split into rounds: round *r* holds the *r*-th message of each ordering key, in batch
/// order (messages without an ordering key all go in the first round). `publishRound` sends a round's
/// messages at once and waits for their acknowledgements, returning one outcome per message. A message
/// is never sent before the earlier messages of its key in the batch were acknowledged, and once one
/// of them did not succeed the rest of its key are reported as failed without being sent. So a retried
/// message can never land behind a later message of its key. Once a round reports the sink
/// unavailable, no later round is sent: its messages are reported unavailable too.
public enum PublishRounds {
    public static func run(
        _ batch: [StoredMessage], _ publishRound: ([StoredMessage]) -> [PublishOutcome]
    ) -> [PublishOutcome] {
        var rounds: [[Int]] = []
        var seen: [String: Int] = [:]
        for (i, m) in batch.enumerated() {
            var r = 0
            if let key = m.orderingKey {
                r = seen[key, default: 0]
                seen[key] = r + 1
            }
            if r == rounds.count { rounds.append([]) }
            rounds[r].append(i)
        }
        var outcomes = [PublishOutcome](repeating: .failed("not published"), count: batch.count)
        var failedKeys = Set<String>()
        var outage: String?
        for round in rounds {
            var send: [Int] = []
            for i in round {
                if let outage {
                    outcomes[i] = .unavailable(outage)
                } else if let key = batch[i].orderingKey, failedKeys.contains(key) {
                    outcomes[i] = .failed("an earlier message of ordering key \(key) failed in this batch")
                } else {
                    send.append(i)
                }
            }
            guard !send.isEmpty else { continue }
            let results = publishRound(send.map { batch[$0] })
            for (j, i) in send.enumerated() {
                outcomes[i] = j < results.count ? results[j] : .failed("the sink returned no outcome")
                if case .unavailable(let why) = outcomes[i], outage == nil { outage = why }
                if outcomes[i].holdsBackKey, let key = batch[i].orderingKey { failedKeys.insert(key) }
            }
        }
        return outcomes
    }
}

/// The JSON Lines record the built-in sinks write for a message.
///
/// `{"id":…,"seq":…,"type":…,"key":…|null,"headers":[{"name":…,"value":…}],"createdAt":"RFC 3339",`
/// `"payload":"base64"}`
public enum SinkRecord {
    public static func json(_ m: StoredMessage) -> String {
        var j = JSONLine()
        j.string("id", m.message.id.description)
        j.number("seq", m.seq)
        j.string("type", m.message.type)
        j.string("key", m.message.key)
        j.raw("headers", "[" + m.message.headers.map { "{\"name\":\(JSONLine.quote($0.name)),\"value\":\(JSONLine.quote($0.value))}" }
            .joined(separator: ",") + "]")
        j.string("createdAt", rfc3339(micros: m.message.createdAtMicros))
        j.string("payload", Data(m.message.payload).base64EncodedString())
        return j.text
    }
}
