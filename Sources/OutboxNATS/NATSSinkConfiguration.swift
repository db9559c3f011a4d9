import Foundation
import Outbox

/// Where and how ``NATSSink`` publishes to NATS JetStream.
public struct NATSSinkConfiguration: Sendable {
    /// The server URL(s), comma-separated: `nats://127.0.0.1:4222`.
    public var url: String

    /// The subject of each message. `{type}` is replaced by the message's type and `{key}` by its key
    /// (`_` when it has none); characters a subject token cannot hold (`.`, `*`, `>`, whitespace) become
    /// `_`. Default `outbox.{type}`.
    public var subject: String = "outbox.{type}"

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

    /// Parses `nats://HOST:PORT[?subject=S&stream=N&create-stream=true|false]`, the form the `outbox`
    /// tool takes.
    public init(parsing spec: String) throws {
        guard spec.hasPrefix("nats://") else {
            throw OutboxError(.invalidArgument, "a NATS sink is nats://HOST:PORT[?subject=S&stream=N], not \(spec)")
        }
        let parts = spec.split(separator: "?", maxSplits: 1)
        self.init(url: String(parts[0]))
        guard parts.count == 2 else { return }
        for pair in parts[1].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw OutboxError(.invalidArgument, "NATS sink option \(pair) has no value") }
            switch kv[0] {
            case "subject": subject = kv[1]
            case "stream": stream = kv[1]
            case "create-stream":
                guard let b = Bool(kv[1]) else { throw OutboxError(.invalidArgument, "create-stream takes true or false, not \(kv[1])") }
                createStream = b
            default: throw OutboxError(.invalidArgument, "unknown NATS sink option \(kv[0]) (subject, stream, create-stream)")
            }
        }
    }

    /// The subject for `message`.
    func subject(for message: StoredMessage) -> String { template.render(message) }

    /// The subjects the stream must cover.
    var streamSubject: String { template.covering("*") }

    private var template: SinkTemplate {
        SinkTemplate(subject) { $0 == "." || $0 == "*" || $0 == ">" || $0.isWhitespace || !$0.isASCII }
    }
}
