import CNats
import Foundation
import Logging
import Outbox

/// The NATS C client behind ``NATSSink``. Every call runs on the sink's dedicated thread, one at a time;
/// only the acknowledgement collector is shared with the client library's own threads.
final class JetStreamPublisher: ChainingBrokerClient, @unchecked Sendable {
    let configuration: NATSSinkConfiguration
    /// How messages become CloudEvents, when they do.
    private let cloudEvents: CloudEventsForm?
    private let logger: Logger
    private let collector = AcknowledgementCollector<UInt64>()
    let availability = AvailabilityObserver()
    private var connection: OpaquePointer?
    private var js: OpaquePointer?
    /// What the connection's handlers carry to find ``availability`` (``NATSCallbackTargets``).
    private var callbackToken: UnsafeMutableRawPointer?
    private let subjects: SinkTemplate
    /// Whether messages were handed to the client since the last flush.
    private var unflushed = false

    init(configuration: NATSSinkConfiguration, logger: Logger) {
        self.configuration = configuration
        cloudEvents = configuration.cloudEvents.map { CloudEventsForm($0, binding: .nats, outboxID: configuration.outboxID) }
        self.logger = logger
        subjects = configuration.subjectTemplate
    }

    /// Connects (and checks or creates the stream) unless a live connection exists. The client
    /// reconnects by itself after a network failure; a connection it has given up on is replaced.
    ///
    /// Throws ``OutboxError/Code/broker`` when no server answers (an outage) and
    /// ``OutboxError/Code/invalidArgument`` for what waiting cannot fix: bad credentials, TLS required
    /// on one side only, JetStream not enabled, a stream that is missing (without `create-stream`) or
    /// does not cover the subject.
    func connect() throws {
        if let connection, js != nil, !natsConnection_IsClosed(connection) { return }
        close()
        if let problem = NATSSinkConfiguration.streamNameProblem(configuration.stream)
            ?? SinkTemplate.placeholderProblem(configuration.subject, outbox: configuration.outboxID) {
            throw OutboxError(.invalidArgument, "NATS: \(problem)")
        }
        do {
            var options: OpaquePointer?
            try check(natsOptions_Create(&options), "creating connection options", misconfigured: true)
            defer { natsOptions_Destroy(options) }
            try check(natsOptions_SetURL(options, configuration.url), "setting the URL \(configuration.redactedURL)", misconfigured: true)
            try check(natsOptions_SetTimeout(options, configuration.connectTimeout.wholeMilliseconds), "setting the timeout", misconfigured: true)
            try check(natsOptions_SetAllowReconnect(options, true), "allowing reconnects", misconfigured: true)
            try check(natsOptions_SetMaxReconnect(options, -1), "setting reconnects", misconfigured: true)
            // The client reconnects by itself; the relay probes at once when it has.
            callbackToken = NATSCallbackTargets.register(availability)
            try check(natsOptions_SetReconnectedCB(options, natsReconnected, callbackToken), "setting the reconnect handler", misconfigured: true)
            // And it says at once when it lost the server, so that an idle relay shows the outage.
            try check(natsOptions_SetDisconnectedCB(options, natsDisconnected, callbackToken), "setting the disconnect handler", misconfigured: true)
            if let file = configuration.credentialsFile {
                try check(natsOptions_SetUserCredentialsFromFiles(options, file, nil), "loading the credentials file \(file)", misconfigured: true)
            }
            if let tls = configuration.tls {
                try check(natsOptions_SetSecure(options, true), "enabling TLS", misconfigured: true)
                if let ca = tls.caFile { try check(natsOptions_LoadCATrustedCertificates(options, ca), "loading the CA file \(ca)", misconfigured: true) }
                if let cert = tls.certificateFile, let key = tls.keyFile {
                    try check(natsOptions_LoadCertificatesChain(options, cert, key), "loading the client certificate \(cert)", misconfigured: true)
                }
            }
            let connected = natsConnection_Connect(&connection, options)
            try check(connected, "connecting to \(configuration.redactedURL)", misconfigured: Self.isDefinite(connected))
            var jsOptions = jsOptions()
            jsOptions_Init(&jsOptions)
            jsOptions.Wait = configuration.publishTimeout.wholeMilliseconds
            jsOptions.PublishAsync.AckHandler = jetStreamAckHandler
            jsOptions.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(collector).toOpaque()
            try check(natsConnection_JetStream(&js, connection, &jsOptions), "opening JetStream")
            try checkStream()
        } catch {
            // Nothing half set up is kept: the next batch starts over.
            close()
            throw error
        }
        logger.info("connected to NATS", metadata: ["url": "\(configuration.redactedURL)", "stream": "\(configuration.stream)"])
    }

    /// Connection failures that waiting cannot fix.
    private static func isDefinite(_ status: natsStatus) -> Bool {
        switch status {
        case NATS_CONNECTION_AUTH_FAILED, NATS_NOT_PERMITTED, NATS_SECURE_CONNECTION_WANTED, NATS_SECURE_CONNECTION_REQUIRED,
             NATS_ADDRESS_MISSING, NATS_INVALID_ARG:
            return true
        default:
            return false
        }
    }

    /// Asks JetStream for the stream's info: a round trip that proves the server and JetStream answer.
    func probe() -> String? {
        guard let connection, let js else { return "NATS: not connected" }
        let status = natsConnection_Status(connection)
        guard status == NATS_CONN_STATUS_CONNECTED else {
            return "NATS: the connection to \(configuration.redactedURL) is \(status == NATS_CONN_STATUS_RECONNECTING ? "reconnecting" : "down")"
        }
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let s = js_GetStreamInfo(&info, js, configuration.stream, nil, &code)
        if s == NATS_OK {
            jsStreamInfo_Destroy(info)
            return nil
        }
        return error(s, "looking up stream \(configuration.stream)").message
    }

    var displayName: String {
        "\(configuration.redactedURL) (stream \(configuration.stream), subject \(configuration.subject))"
    }
    func close() {
        availability.whileClosing {
            if let js { jsCtx_Destroy(js) }
            if let connection { natsConnection_Destroy(connection) }
        }
        NATSCallbackTargets.remove(callbackToken)
        callbackToken = nil
        js = nil
        connection = nil
    }

    /// Checks that the stream exists and stores every subject the sink publishes to; creates it when
    /// it is missing and ``NATSSinkConfiguration/createStream`` allows.
    private func checkStream() throws {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let found = js_GetStreamInfo(&info, js, configuration.stream, nil, &code)
        if found == NATS_OK, let info {
            defer { jsStreamInfo_Destroy(info) }
            var filters: [String] = []
            if let config = info.pointee.Config, let subjects = config.pointee.Subjects {
                for i in 0..<Int(config.pointee.SubjectsLen) { if let s = subjects[i] { filters.append(String(cString: s)) } }
            }
            guard configuration.isCovered(by: filters) else {
                throw OutboxError(.invalidArgument, "NATS: stream \(configuration.stream) stores \(filters.isEmpty ? "no subjects" : filters.joined(separator: ", ")), "
                                  + "which does not cover the subject \(configuration.subject)")
            }
            return
        }
        if code == JSNotEnabledErr || code == JSNotEnabledForAccountErr {
            throw OutboxError(.invalidArgument, "NATS: JetStream is not enabled on \(configuration.redactedURL)")
        }
        guard found == NATS_NOT_FOUND || code == JSStreamNotFoundErr else {
            throw error(found, "looking up stream \(configuration.stream)")
        }
        guard configuration.createStream else {
            throw OutboxError(.invalidArgument, "NATS: stream \(configuration.stream) does not exist (create it, or pass create-stream=true)")
        }
        var config = jsStreamConfig()
        jsStreamConfig_Init(&config)
        let created = configuration.stream.withCString { name in
            configuration.streamSubject.withCString { subject in
                var subjects: [UnsafePointer<CChar>?] = [subject]
                return subjects.withUnsafeMutableBufferPointer { list in
                    config.Name = name
                    config.Subjects = list.baseAddress
                    config.SubjectsLen = 1
                    config.Storage = js_FileStorage
                    config.Duplicates = configuration.duplicateWindow.wholeNanoseconds
                    return js_AddStream(&info, js, &config, nil, &code)
                }
            }
        }
        // Another relay may have created it in the meantime.
        guard created == NATS_OK || code == JSStreamNameExistErr else {
            let e = error(created, "creating stream \(configuration.stream) over \(configuration.streamSubject)")
            throw code == jsErrCode(0) ? e : OutboxError(.invalidArgument, e.message)
        }
        jsStreamInfo_Destroy(info)
        logger.notice("created JetStream stream", metadata: ["stream": "\(configuration.stream)", "subjects": "\(configuration.streamSubject)"])
    }

    /// Each message carries its id in `Nats-Msg-Id`, so JetStream drops a copy republished after a
    /// failure or a crash (within the stream's duplicate window).
    ///
    /// Waits for JetStream's next acknowledgements (``ChainingBrokerClient``); with none within the
    /// publish timeout, takes back what is still unacknowledged, so that a late acknowledgement is
    /// dropped rather than credited to a later batch (the relay retries these; the id makes JetStream
    /// drop a copy that did arrive).
    func awaitOutcomes(atLeast count: Int) -> [(UInt64, PublishOutcome)] {
        flushIfNeeded()
        let arrived = collector.take(atLeast: count, waitingUpTo: configuration.publishTimeout)
        if arrived.isEmpty, let js {
            var pending = natsMsgList()
            if js_PublishAsyncGetPendingList(&pending, js) == NATS_OK { natsMsgList_Destroy(&pending) }
        }
        return arrived.map { ($0.key, $0.value) }
    }

    var timedOut: PublishOutcome { .unavailable("no acknowledgement from JetStream within \(configuration.publishTimeout)") }

    /// Hands one message to the client for asynchronous publishing; nil when it was accepted,
    /// otherwise its outcome.
    func send(_ m: StoredMessage) -> PublishOutcome? {
        for h in m.message.headers {
            if let problem = Self.headerProblem(h.name, h.value) { return .rejected(problem) }
        }
        var payload = m.message.payload
        var headers: [(name: String, value: String)]
        if let cloudEvents {
            let event = cloudEvents.render(m)
            // The id steers JetStream's deduplication, the sequence number matches its acknowledgement
            // (``jetStreamAckHandler``): both go with the event's headers.
            headers = [("Nats-Msg-Id", m.message.id.description), ("Outbox-Seq", String(m.seq))] + event.headers
            payload = event.payload
        } else {
            headers = BrokerMetadata.headers(m, idName: "Nats-Msg-Id", titleCase: true)
        }
        for (_, value) in headers where value.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
            return .rejected("a header value holds a line break, which NATS headers cannot carry")
        }
        var msg: OpaquePointer?
        let created = payload.withUnsafeBufferPointer { payload in
            natsMsg_Create(&msg, subjects.render(m), nil,
                           UnsafeRawPointer(payload.baseAddress)?.assumingMemoryBound(to: CChar.self), Int32(payload.count))
        }
        guard created == NATS_OK else { return outcome(created, "creating the message") }
        for (name, value) in headers {
            let s = natsMsgHeader_Add(msg, name, value)
            guard s == NATS_OK else {
                natsMsg_Destroy(msg)
                return outcome(s, "adding header \(name)")
            }
        }
        // No per-message deadline (`jsPubOptions.MaxWait`: a timer entry per message): the sink's own
        // wait (``awaitOutcomes(atLeast:)``) times out what is not acknowledged and takes it back.
        let s = js_PublishMsgAsync(js, &msg, nil)
        // On success the client owns the message and has cleared `msg`; destroying nil does nothing.
        natsMsg_Destroy(msg)
        guard s == NATS_OK else { return outcome(s, "publishing") }
        unflushed = true
        return nil
    }

    /// Writes what was handed to the client since the last flush, before the sink waits for its
    /// acknowledgements. The client buffers publishes and its flusher thread writes them after yielding
    /// for a millisecond: left to it, every hop of a key's chain would wait for that. Writing each message
    /// at once instead (`SendAsap`) costs a `write` per message. So messages are buffered while a wave of
    /// them is sent, and the wave goes out in one write with the flush's PING; the wait for its PONG is
    /// bounded (a late one only means the server is busy: what was written is on its way).
    private func flushIfNeeded() {
        guard unflushed, let connection else { return }
        unflushed = false
        _ = natsConnection_FlushTimeout(connection, min(100, max(1, configuration.publishTimeout.wholeMilliseconds)))
    }

    /// The headers the sink sets on every message (lowercased).
    static let sinkHeaders: Set<String> = ["outbox-seq", "outbox-type", "outbox-created-at", "outbox-key"]

    /// Why a header cannot travel as a NATS header, if it cannot.
    static func headerProblem(_ name: String, _ value: String) -> String? {
        if name.isEmpty || name.contains(where: { $0 == ":" || $0.isWhitespace || !$0.isASCII || $0.asciiValue! < 0x21 }) {
            return "header name \(name.debugDescription) is not a valid NATS header name"
        }
        let lower = name.lowercased()
        if lower.hasPrefix("nats-") || sinkHeaders.contains(lower) {
            return "header name \(name) is reserved (Nats-* headers steer JetStream; the sink sets \(sinkHeaders.sorted().joined(separator: ", ")))"
        }
        return nil
    }

    /// What a client status for one message means: too large is final; a connection that is closed,
    /// gone, stalled or buffering is the sink's outage; anything else is a transient failure.
    private func outcome(_ status: natsStatus, _ what: String) -> PublishOutcome {
        let e = error(status, what)
        switch status {
        case NATS_MAX_PAYLOAD:
            return .rejected(e.message)
        case NATS_CONNECTION_CLOSED, NATS_CONNECTION_DISCONNECTED, NATS_STALE_CONNECTION, NATS_NO_SERVER, NATS_IO_ERROR,
             NATS_TIMEOUT, NATS_NO_RESPONDERS, NATS_INSUFFICIENT_BUFFER, NATS_DRAINING, NATS_NOT_YET_CONNECTED:
            return .unavailable(e.message)
        default:
            return .failed(e.message)
        }
    }

    /// JetStream's answer to one message: too large is final; "no stream answered in time" and "try
    /// later" (resources exhausted, storage failed, cluster unavailable) are the sink's outage; any
    /// other refusal is a transient failure of the message.
    static func outcome(forJetStreamError err: natsStatus, code: jsErrCode, text: String) -> PublishOutcome {
        let reason = "JetStream refused the message: \(text)"
        switch code {
        case JSStreamMessageExceedsMaximumErr:
            return .rejected(reason)
        case jsErrCode(0), JSClusterNotAvailErr, JSInsufficientResourcesErr, JSStorageResourcesExceededErr, JSMemoryResourcesExceededErr,
             JSAccountResourcesExceededErr, JSStreamStoreFailedErr, JSNotEnabledErr:
            return .unavailable(reason)
        default:
            return .failed(reason)
        }
    }

    private func check(_ status: natsStatus, _ what: String, misconfigured: Bool = false) throws {
        guard status != NATS_OK else { return }
        let e = error(status, what)
        throw misconfigured ? OutboxError(.invalidArgument, e.message) : e
    }

    private func error(_ status: natsStatus, _ what: String) -> OutboxError {
        var last = natsStatus(0)
        var detail = nats_GetLastError(&last).map { String(cString: $0) } ?? String(cString: natsStatus_GetText(status))
        // The client prefixes its own source location, "(conn.c:2088): ": not the user's business.
        if let r = detail.range(of: #"^\([A-Za-z_]+\.c:\d+\): "#, options: .regularExpression) { detail.removeSubrange(r) }
        return OutboxError(.broker, "NATS: \(what) failed: \(detail)")
    }
}

/// Called by the client's thread once it has reconnected to a server.
private let natsReconnected: natsConnectionHandler = { _, token in
    NATSCallbackTargets.observer(token)?.notify()
}

/// Called by the client's thread when it lost its server (it goes on reconnecting by itself).
private let natsDisconnected: natsConnectionHandler = { _, token in
    NATSCallbackTargets.observer(token)?.notify(.unavailable("NATS: the connection to the server was lost; the client is reconnecting"))
}

/// Called by the client for each asynchronous publish, with JetStream's acknowledgement or the error.
private let jetStreamAckHandler: jsPubAckHandler = { _, msg, ack, failure, closure in
    defer { natsMsg_Destroy(msg) }
    guard let msg, let closure else { return }
    let collector = Unmanaged<AcknowledgementCollector<UInt64>>.fromOpaque(closure).takeUnretainedValue()
    var value: UnsafePointer<CChar>?
    guard natsMsgHeader_Get(msg, "Outbox-Seq", &value) == NATS_OK, let value, let seq = decimal(value) else { return }
    if ack != nil {
        collector.record(seq, .published)
    } else if let failure {
        let text = failure.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(failure.pointee.Err))
        collector.record(seq, JetStreamPublisher.outcome(forJetStreamError: failure.pointee.Err, code: failure.pointee.ErrCode, text: text))
    }
}



/// The number a header value (a C string of decimal digits) holds, without making a String of it.
func decimal(_ text: UnsafePointer<CChar>) -> UInt64? {
    var value: UInt64 = 0
    var p = text
    guard p.pointee != 0 else { return nil }
    while p.pointee != 0 {
        let digit = UInt64(UInt8(bitPattern: p.pointee)) &- 48
        guard digit < 10 else { return nil }
        let (times, o1) = value.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times.addingReportingOverflow(digit)
        guard !o1, !o2 else { return nil }
        value = sum
        p += 1
    }
    return value
}
