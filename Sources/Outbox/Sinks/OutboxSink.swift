import Foundation

/// What became of one message handed to a sink.
public enum PublishOutcome: Sendable, Equatable {
    /// The sink accepted it (durably, as far as the sink can tell).
    case published
    /// A transient failure: the relay retries it with backoff.
    case failed(String)
    /// A permanent refusal: the relay dead-letters it at once.
    case rejected(String)
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
public protocol OutboxSink: Sendable {
    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome]
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
        for m in batch {
            if let key = m.orderingKey, failedKeys.contains(key) {
                outcomes.append(.failed("an earlier message of ordering key \(key) failed in this batch"))
                continue
            }
            let outcome = await publishOne(m)
            if outcome != .published, let key = m.orderingKey { failedKeys.insert(key) }
            outcomes.append(outcome)
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
