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
    package static func publishAsync(_ configuration: NATSSinkConfiguration, messages: [StoredMessage],
                                     timeout: Duration) throws -> Duration {
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
        let counts = AckCounts()
        var options = jsOptions()
        jsOptions_Init(&options)
        options.Wait = timeout.wholeMilliseconds
        options.PublishAsync.AckHandler = baselineAckHandler
        options.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(counts).toOpaque()
        try check(natsConnection_JetStream(&js, connection, &options), "opening JetStream")
        let subjects = configuration.subjectTemplate
        // The messages are given (as the relay's are read from disk before it publishes); their subjects
        // and headers are the client's work, as they are the sink's.
        let start = ContinuousClock.now
        for m in messages {
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

/// Acknowledgements counted on the client's thread.
private final class AckCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = 0
    private var failed = 0

    func add(ok: Bool) {
        lock.lock()
        if ok { stored += 1 } else { failed += 1 }
        lock.unlock()
    }

    func read() -> (Int, Int) {
        lock.lock()
        defer { lock.unlock() }
        return (stored, failed)
    }
}

private let baselineAckHandler: jsPubAckHandler = { _, msg, ack, _, closure in
    defer { natsMsg_Destroy(msg) }
    guard let closure else { return }
    Unmanaged<AckCounts>.fromOpaque(closure).takeUnretainedValue().add(ok: ack != nil)
}
