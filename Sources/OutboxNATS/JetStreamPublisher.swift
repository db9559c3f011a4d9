import CNats
import Foundation
import Logging
import Outbox

/// The NATS C client behind ``NATSSink``. Every call runs on the sink's dedicated thread, one at a time;
/// only the acknowledgement collector is shared with the client library's own threads.
final class JetStreamPublisher: BlockingBrokerClient, @unchecked Sendable {
    let configuration: NATSSinkConfiguration
    private let logger: Logger
    private let collector = AcknowledgementCollector<UInt64>()
    private var connection: OpaquePointer?
    private var js: OpaquePointer?

    init(configuration: NATSSinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Connects (and creates the stream) unless a live connection exists. The client reconnects by
    /// itself after a network failure; a connection it has given up on is replaced.
    func connect() throws {
        if let connection, js != nil, !natsConnection_IsClosed(connection) { return }
        close()
        do {
            var options: OpaquePointer?
            try check(natsOptions_Create(&options), "creating connection options")
            defer { natsOptions_Destroy(options) }
            try check(natsOptions_SetURL(options, configuration.url), "setting the URL \(configuration.url)")
            try check(natsOptions_SetTimeout(options, configuration.connectTimeout.wholeMilliseconds), "setting the timeout")
            try check(natsOptions_SetAllowReconnect(options, true), "allowing reconnects")
            try check(natsOptions_SetMaxReconnect(options, -1), "setting reconnects")
            if let file = configuration.credentialsFile {
                try check(natsOptions_SetUserCredentialsFromFiles(options, file, nil), "loading the credentials file \(file)")
            }
            if let tls = configuration.tls {
                try check(natsOptions_SetSecure(options, true), "enabling TLS")
                if let ca = tls.caFile { try check(natsOptions_LoadCATrustedCertificates(options, ca), "loading the CA file \(ca)") }
                if let cert = tls.certificateFile, let key = tls.keyFile {
                    try check(natsOptions_LoadCertificatesChain(options, cert, key), "loading the client certificate \(cert)")
                }
            }
            try check(natsConnection_Connect(&connection, options), "connecting to \(configuration.url)")
            var jsOptions = jsOptions()
            jsOptions_Init(&jsOptions)
            jsOptions.Wait = configuration.publishTimeout.wholeMilliseconds
            jsOptions.PublishAsync.AckHandler = jetStreamAckHandler
            jsOptions.PublishAsync.AckHandlerClosure = Unmanaged.passUnretained(collector).toOpaque()
            try check(natsConnection_JetStream(&js, connection, &jsOptions), "opening JetStream")
            if configuration.createStream { try ensureStream() }
        } catch {
            // Nothing half set up is kept: the next batch starts over.
            close()
            throw error
        }
        logger.info("connected to NATS", metadata: ["url": "\(configuration.url)", "stream": "\(configuration.stream)"])
    }

    func close() {
        if let js { jsCtx_Destroy(js) }
        if let connection { natsConnection_Destroy(connection) }
        js = nil
        connection = nil
    }

    private func ensureStream() throws {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        let found = js_GetStreamInfo(&info, js, configuration.stream, nil, &code)
        if found == NATS_OK {
            jsStreamInfo_Destroy(info)
            return
        }
        guard found == NATS_NOT_FOUND || code == JSStreamNotFoundErr else {
            throw error(found, "looking up stream \(configuration.stream)")
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
            throw error(created, "creating stream \(configuration.stream) over \(configuration.streamSubject)")
        }
        jsStreamInfo_Destroy(info)
        logger.info("created JetStream stream", metadata: ["stream": "\(configuration.stream)", "subjects": "\(configuration.streamSubject)"])
    }

    /// Sends the round's messages asynchronously, then waits once for every acknowledgement. Each
    /// message carries its id in `Nats-Msg-Id`, so JetStream drops a copy republished after a failure or
    /// a crash (within the stream's duplicate window).
    func publishRound(_ round: [StoredMessage]) -> [PublishOutcome] {
        var outcomes = round.map { send($0) }
        guard outcomes.contains(where: { $0 == nil }) else { return outcomes.map { $0! } }
        // Write the round out now rather than when the client's flusher thread next gets to it (which
        // costs about a millisecond per round); the PING this sends comes back after the server has
        // read every message of the round. A failure here shows up as missing acknowledgements below.
        // The round's wait, flush included, stays within the publish timeout.
        let deadline = ContinuousClock.now + configuration.publishTimeout
        _ = natsConnection_FlushTimeout(connection, configuration.publishTimeout.wholeMilliseconds)
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = max(1, (deadline - ContinuousClock.now).wholeMilliseconds)
        if js_PublishAsyncComplete(js, &options) != NATS_OK {
            // Take back what is still unacknowledged: a late acknowledgement is then dropped rather
            // than credited to a later round. The relay retries these; the id makes JetStream drop a
            // copy that did arrive.
            var pending = natsMsgList()
            if js_PublishAsyncGetPendingList(&pending, js) == NATS_OK { natsMsgList_Destroy(&pending) }
        }
        let acks = collector.take()
        for (i, m) in round.enumerated() where outcomes[i] == nil {
            outcomes[i] = acks[m.seq] ?? .failed("no acknowledgement from JetStream within \(configuration.publishTimeout)")
        }
        return outcomes.map { $0! }
    }

    /// Hands one message to the client for asynchronous publishing; nil when it was accepted,
    /// otherwise its outcome.
    private func send(_ m: StoredMessage) -> PublishOutcome? {
        for h in m.message.headers {
            if let problem = Self.headerProblem(h.name, h.value) { return .rejected(problem) }
        }
        let headers = BrokerMetadata.headers(m, idName: "Nats-Msg-Id", titleCase: true)
        for (_, value) in headers where value.contains(where: { $0 == "\r" || $0 == "\n" }) {
            return .rejected("a header value holds a line break, which NATS headers cannot carry")
        }
        var msg: OpaquePointer?
        let created = m.message.payload.withUnsafeBufferPointer { payload in
            natsMsg_Create(&msg, configuration.subject(for: m), nil,
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
        var options = jsPubOptions()
        jsPubOptions_Init(&options)
        options.MaxWait = configuration.publishTimeout.wholeMilliseconds
        let s = js_PublishMsgAsync(js, &msg, &options)
        // On success the client owns the message and has cleared `msg`; destroying nil does nothing.
        natsMsg_Destroy(msg)
        return s == NATS_OK ? nil : outcome(s, "publishing")
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

    private func outcome(_ status: natsStatus, _ what: String) -> PublishOutcome {
        let e = error(status, what)
        return status == NATS_MAX_PAYLOAD ? .rejected(e.message) : .failed(e.message)
    }

    private func check(_ status: natsStatus, _ what: String) throws {
        if status != NATS_OK { throw error(status, what) }
    }

    private func error(_ status: natsStatus, _ what: String) -> OutboxError {
        var last = natsStatus(0)
        let detail = nats_GetLastError(&last).map { String(cString: $0) } ?? String(cString: natsStatus_GetText(status))
        return OutboxError(.broker, "NATS: \(what) failed: \(detail)")
    }
}

/// Called by the client for each asynchronous publish, with JetStream's acknowledgement or the error.
private let jetStreamAckHandler: jsPubAckHandler = { _, msg, ack, failure, closure in
    defer { natsMsg_Destroy(msg) }
    guard let msg, let closure else { return }
    let collector = Unmanaged<AcknowledgementCollector<UInt64>>.fromOpaque(closure).takeUnretainedValue()
    var value: UnsafePointer<CChar>?
    guard natsMsgHeader_Get(msg, "Outbox-Seq", &value) == NATS_OK, let value, let seq = UInt64(String(cString: value)) else { return }
    if ack != nil {
        collector.record(seq, .published)
    } else if let failure {
        let text = failure.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(failure.pointee.Err))
        let reason = "JetStream refused the message: \(text)"
        collector.record(seq, failure.pointee.ErrCode == JSStreamMessageExceedsMaximumErr ? .rejected(reason) : .failed(reason))
    }
}

