import Foundation
import Outbox

/// Where and how ``NATSSink`` publishes to NATS JetStream.
public struct NATSSinkConfiguration: Sendable {
    /// The server URL(s), comma-separated: `nats://127.0.0.1:4222`, `nats://user:password@host:4222`,
    /// `tls://host:4222`.
    public var url: String

    /// A NATS credentials file (`.creds`: a user JWT and its NKey seed) to authenticate with.
    public var credentialsFile: String?

    /// TLS, when the server requires it (a `tls://` URL alone uses the system's certificate authorities).
    public var tls: TLSFiles?

    /// The subject of each message. `{type}` is replaced by the message's type and `{key}` by its key
    /// (`_` when it has none); characters a subject token cannot hold (`.`, `*`, `>`, whitespace) become
    /// `_`. Default `outbox.{type}`.
    public var subject: String = "outbox.{type}"
    /// The outbox's id, for `{outbox}` in the subject (`outbox relay` fills it in); a subject that names
    /// `{outbox}` without it is refused when the sink connects. `{host}` is this machine's host name.
    public var outboxID: OutboxID?

    /// Publish each message as a CloudEvent (``CloudEventsOptions``), in binary or structured mode
    /// (`?cloudevents=binary|structured&cloudevents-source=URI`); nil (the default) publishes the
    /// outbox's own headers.
    public var cloudEvents: CloudEventsOptions?


    /// The JetStream stream that stores what the subjects receive. When ``createStream`` is true and no
    /// stream of this name exists, the sink creates it on connect, over the subjects ``subject`` can
    /// produce (`{type}` and `{key}` become `*`), with ``duplicateWindow``.
    public var stream: String = "OUTBOX"

    /// Creates ``stream`` if it does not exist. An existing stream is used as it is.
    public var createStream: Bool = true

    /// How long JetStream remembers a message id to drop a republished copy (the stream's
    /// `duplicate_window`), when the sink creates the stream. The relay republishes a message only
    /// after a failure or a crash, so this bounds how late such a copy is still dropped; consumers that
    /// need exactly-once beyond it deduplicate on the `Nats-Msg-Id` header themselves. Default 1 hour.
    public var duplicateWindow: Duration = .seconds(3600)

    /// How long a publish waits for JetStream's acknowledgement before it counts as failed (and is
    /// retried by the relay). Default 5 s.
    public var publishTimeout: Duration = .seconds(5)

    /// How long connecting may take. Default 2 s.
    public var connectTimeout: Duration = .seconds(2)

    public init(url: String) { self.url = url }

    /// Parses `nats://[USER:PASSWORD@]HOST:PORT[?subject=S&stream=N&create-stream=true|false&creds=FILE
    /// &ca=FILE&cert=FILE&key=FILE]` (or `tls://...`), the form the `outbox` tool takes.
    public init(parsing text: String) throws {
        let spec = try SinkSpec(text, schemes: ["nats", "tls"], form: "nats://HOST:PORT[?subject=S&stream=N]")
        try SinkSpec.checkHostsAndPorts(spec.address, what: "the NATS sink")
        self.init(url: spec.scheme + "://" + spec.address)
        var tls = TLSFiles()
        let (cloudEvents, options) = try CloudEventsOptions.parse(spec.options)
        self.cloudEvents = cloudEvents
        for (name, value) in options {
            switch name {
            case "subject": subject = value
            case "stream": stream = value
            case "creds": credentialsFile = value
            case "create-stream":
                guard let b = Bool(value) else { throw OutboxError(.invalidArgument, "create-stream takes true or false, not \(value)") }
                createStream = b
            default:
                guard tls.apply(name, value) else {
                    throw SinkSpec.unknown(name, known: "subject, stream, create-stream, creds, ca, cert, key, " + CloudEventsOptions.optionNames)
                }
            }
        }
        if tls != TLSFiles() || spec.scheme == "tls" { self.tls = try tls.validated() }
        if let problem = Self.streamNameProblem(stream) { throw OutboxError(.invalidArgument, problem) }
    }

    /// Why JetStream would refuse `name` as a stream name, if it would: empty, or holding whitespace, `.`,
    /// `*`, `>`, a path separator or a control character. Checked when the spec is parsed and when the
    /// sink connects, so that a bad name is a misconfiguration at start, not an outage waited out.
    static func streamNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "the stream name is empty" }
        if name.unicodeScalars.contains(where: { $0.properties.isWhitespace || ".*>/\\".unicodeScalars.contains($0) || $0.value < 0x20 || $0.value == 0x7F }) {
            return "the stream name \(name.debugDescription) is not valid in JetStream (no whitespace, '.', '*', '>', '/', '\\' or control characters)"
        }
        return nil
    }

    /// ``url`` with any password or token masked (for logs and errors).
    public var redactedURL: String { SinkSpec.redacted(url) }

    /// The subject for `message`.
    func subject(for message: StoredMessage) -> String { subjectTemplate.render(message) }

    /// The subjects the stream must cover.
    var streamSubject: String { subjectTemplate.covering("*") }

    /// Whether a stream with these subject filters stores every subject ``subject`` can produce.
    func isCovered(by filters: [String]) -> Bool {
        let tokens = subjectTemplate.template.split(separator: ".", omittingEmptySubsequences: false).map { token -> String? in
            token.contains("{type}") || token.contains("{key}") ? nil : String(token)
        }
        return filters.contains { Self.filter($0, covers: tokens) }
    }

    /// Whether the subject filter `filter` matches every subject of the token pattern `tokens` (nil is
    /// any one token).
    static func filter(_ filter: String, covers tokens: [String?]) -> Bool {
        let parts = filter.split(separator: ".", omittingEmptySubsequences: false)
        for (i, f) in parts.enumerated() {
            if f == ">" { return i == parts.count - 1 && i < tokens.count }
            guard i < tokens.count else { return false }
            if f == "*" { continue }
            guard let t = tokens[i], t == f else { return false }
        }
        return parts.count == tokens.count
    }

    /// ``subject``, parsed (a publisher keeps one: parsing it runs once, not per message), with `{outbox}`
    /// and `{host}` filled in.
    var subjectTemplate: SinkTemplate {
        SinkTemplate(subject, outbox: outboxID) { $0 == "." || $0 == "*" || $0 == ">" || $0.isWhitespace || !$0.isASCII }
    }
}
