import CNats
import Foundation
import Outbox

/// The bench's anchor for the relay's NATS row (`outbox bench --sink nats://…`): the C client alone,
/// publishing the same messages to the same subject with the same headers (``BrokerMetadata``) as
/// asynchronously as it can (every message handed to `js_PublishMsgAsync`, within the client's window
/// of unacknowledged messages, then one wait for every acknowledgement), with no outbox, no ordering
/// and no tombstones. What the relay adds on top of that is the relay's cost.
package enum JetStreamBaseline {
    /// Publishes `messages` and returns the time from the first publish to the last acknowledgement.
    /// Blocks: call it on a thread of its own. Throws ``OutboxError/Code/broker`` when the server cannot
    /// be reached or a message was not acknowledged as stored.
    ///
    /// With `inKeyOrder`, it keeps the relay's ordering rule and nothing else of the relay: at most one
    /// message of each ordering key unacknowledged (a key's next message is sent once the one before it
    /// was acknowledged; key-less messages are not held back), each wave of sends flushed at once. That
    /// is the most a publisher that keeps per-key order gets from this broker (the messages' sequence
    /// numbers must differ: acknowledgements are matched by them).
    package static func publishAsync(_ configuration: NATSSinkConfiguration, messages: [StoredMessage],
                                     timeout: Duration, inKeyOrder: Bool = false) throws -> Duration {
        var connection: OpaquePointer?
        var js: OpaquePointer?
        defer {
            if let js { jsCtx_Destroy(js) }
            if let connection { natsConnection_Destroy(connection) }
        }
        func check(_ s: natsStatus, _ what: String) throws {
            guard s != NATS_OK else { return }
            throw OutboxError(.broker, "NATS baseline: \(what) failed: \(String(cString: natsStatus_GetText(s)))")
        }
        try check(natsConnection_ConnectTo(&connection, configuration.url), "connecting to \(configuration.redactedURL)")
        let counts = AckCounts(recordingSequenceNumbers: inKeyOrder)
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = timeout.wholeMilliseconds
        options.PublishAsync.AckHandler = baselineAckHandler
        options.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(counts).toOpaque()
        try check(natsConnection_JetStream(&js, connection, &options), "opening JetStream")
        let subjects = configuration.subjectTemplate
        // The messages are given (as the relay's are read from disk before it publishes); their subjects
        // and headers are the client's work, as they are the sink's.
        func send(_ m: StoredMessage) throws {
            let subject = subjects.render(m)
            let headers = BrokerMetadata.headers(m, idName: "Nats-Msg-Id", titleCase: true)
            var msg: OpaquePointer?
            try m.message.payload.withUnsafeBufferPointer { payload in
                try check(natsMsg_Create(&msg, subject, nil, UnsafeRawPointer(payload.baseAddress)?.assumingMemoryBound(to: CChar.self),
                                         Int32(payload.count)), "creating a message")
            }
            for (name, value) in headers { try check(natsMsgHeader_Add(msg, name, value), "adding a header") }
            let sent = js_PublishMsgAsync(js, &msg, nil)
            natsMsg_Destroy(msg)
            try check(sent, "publishing")
        }
        let start = ContinuousClock.now
        if inKeyOrder {
            // The relay's own chaining (``PublishChains``) over this client: every key's first message and
            // every key-less one at once, each next one of a key once the one before it is acknowledged.
            var sendError: (any Error)?
            _ = PublishChains.run(messages, send: { m in
                do { try send(m) } catch {
                    sendError = error
                    return .unavailable("\(error)")
                }
                return nil
            }, awaitOutcomes: { _ in
                _ = natsConnection_FlushTimeout(connection, 100)
                return counts.takeAcknowledged(waitingUpTo: timeout).map { ($0.seq, $0.ok ? .published : .failed("refused")) }
            }, timedOut: .unavailable("no acknowledgement"))
            if let sendError { throw sendError }
        } else {
            for m in messages { try send(m) }
        }
        var wait = jsPubOptions()
        jsPubOptions_Init(&wait)
        wait.MaxWait = timeout.wholeMilliseconds
        try check(js_PublishAsyncComplete(js, &wait), "waiting for the acknowledgements")
        let elapsed = ContinuousClock.now - start
        let (stored, failed) = counts.read()
        guard stored == messages.count, failed == 0 else {
            throw OutboxError(.broker, "NATS baseline: \(stored) of \(messages.count) messages acknowledged, \(failed) refused")
        }
        return elapsed
    }
}

/// Acknowledgements counted on the client's thread (and, in key order, their sequence numbers kept
/// for the publisher to send what each one allows).
private final class AckCounts: @unchecked Sendable {
    private let condition = NSCondition()
    private var stored = 0
    private var failed = 0
    private var acknowledged: [(seq: UInt64, ok: Bool)] = []
    let recordingSequenceNumbers: Bool

    init(recordingSequenceNumbers: Bool) { self.recordingSequenceNumbers = recordingSequenceNumbers }

    func add(ok: Bool, seq: UInt64?) {
        condition.lock()
        if ok { stored += 1 } else { failed += 1 }
        if let seq {
            acknowledged.append((seq, ok))
            if acknowledged.count == 1 { condition.signal() }
        }
        condition.unlock()
    }

    /// The sequence numbers answered since the last call, and whether each was stored: waits up to
    /// `timeout` for the first.
    func takeAcknowledged(waitingUpTo timeout: Duration) -> [(seq: UInt64, ok: Bool)] {
        condition.lock()
        defer {
            acknowledged.removeAll(keepingCapacity: true)
            condition.unlock()
        }
        let end = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        while acknowledged.isEmpty, condition.wait(until: end) {}
        return acknowledged
    }

    func read() -> (Int, Int) {
        condition.lock()
        defer { condition.unlock() }
        return (stored, failed)
    }
}

private let baselineAckHandler: jsPubAckHandler = { _, msg, ack, _, closure in
    defer { natsMsg_Destroy(msg) }
    guard let closure else { return }
    let counts = Unmanaged<AckCounts>.fromOpaque(closure).takeUnretainedValue()
    var seq: UInt64?
    if counts.recordingSequenceNumbers {
        var value: UnsafePointer<CChar>?
        if natsMsgHeader_Get(msg, "Outbox-Seq", &value) == NATS_OK, let value { seq = decimal(value) }
    }
    counts.add(ok: ack != nil, seq: seq)
}
