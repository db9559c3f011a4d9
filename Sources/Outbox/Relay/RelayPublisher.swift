import Logging
import Tracing

/// Hands one batch to the sink, in a producer span linked to the trace context each message carries,
/// and times it. Holds the sink's contract: one outcome per message.
struct RelayPublisher: Sendable {
    let sink: any OutboxSink
    let metrics: RelayMetrics
    let logger: Logger

    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let started = ContinuousClock.now
        let outcomes = await withSpan("outbox publish", ofKind: .producer) { span in
            span.attributes["outbox.batch_size"] = batch.count
            for m in batch {
                let context = TraceHeaders.extract(m.message)
                if context.count > 0 { span.addLink(SpanLink(context: context, attributes: [:])) }
            }
            return await sink.publish(batch)
        }
        metrics.publishLatency.recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
        guard outcomes.count == batch.count else {
            logger.error("sink returned \(outcomes.count) outcomes for \(batch.count) messages; treating all as failed",
                         metadata: ["sink": "\(sink.displayName)"])
            return Array(repeating: .failed("the sink broke its contract"), count: batch.count)
        }
        return outcomes
    }
}
