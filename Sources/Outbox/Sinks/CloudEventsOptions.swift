import Crypto
import Foundation

/// How a broker sink publishes messages as CloudEvents (cloudevents.io, version 1.0), by its protocol
/// binding (NATS, Kafka, MQTT 5): `?cloudevents=binary` or `?cloudevents=structured` on the sink's URL.
///
/// Each message is the event whose `id` is the message id (consumers deduplicate on it), `type` the
/// message type, `time` its creation time, `subject` its key, `datacontenttype` its `content-type` header
/// (a typed event's coder sets it) and `dataschema` its `dataschema` header, if it has them; `source` is
/// ``source``, or one stable per device and outbox (``defaultSource(outboxID:)``). The extensions
/// `outboxseq` (its sequence number), `outboxlane` (its lane, when not `normal`) and
/// `outboxschemaversion` (a typed event's schema version) go with it. Its other headers go as the
/// protocol's headers (user properties in MQTT).
///
/// - **Binary** (``CloudEventsMode/binary``): the payload as it is; the attributes as the binding's
///   headers: `ce-` headers in NATS (values percent-encoded), `ce_` headers in Kafka (`datacontenttype` as
///   `content-type`), user properties named as the attributes in MQTT (`datacontenttype` as the
///   Content Type property). Every user property of such an MQTT message is an attribute: a header whose
///   name is not an extension's (1 to 20 lowercase letters and digits, such as `traceparent`) is left out
///   of it (structured mode keeps every header).
/// - **Structured** (``CloudEventsMode/structured``): the payload is the JSON event format, the message's
///   payload in `data` when its content type is JSON and it parses as JSON, else base64 in
///   `data_base64`; the content type `application/cloudevents+json; charset=utf-8`.
public struct CloudEventsOptions: Sendable, Equatable {
    /// Binary or structured.
    public var mode: CloudEventsMode
    /// The events' `source` (a URI reference); nil: ``defaultSource(outboxID:)``.
    public var source: String?

    public init(mode: CloudEventsMode, source: String? = nil) {
        (self.mode, self.source) = (mode, source)
    }

    /// A source stable per device and outbox: `urn:outbox:DEVICE:OUTBOX`, DEVICE 32 hex digits derived
    /// from `/etc/machine-id` (an HMAC of it, so the machine id itself is never published; the host name
    /// when there is no machine id), OUTBOX the outbox's id (left out when not known).
    public static func defaultSource(outboxID: OutboxID?) -> String {
        "urn:outbox:" + deviceID + (outboxID.map { ":\($0)" } ?? "")
    }

    private static let deviceID: String = {
        var seed = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if seed.isEmpty { seed = ProcessInfo.processInfo.hostName }
        let mac = HMAC<SHA256>.authenticationCode(for: Array("outbox cloudevents source v1".utf8), using: SymmetricKey(data: Array(seed.utf8)))
        return Array(mac).prefix(16).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }()

    /// The CloudEvents options among a sink URL's options (`cloudevents=binary|structured`,
    /// `cloudevents-source=URI`), and the options left for the sink. Throws
    /// ``OutboxError/Code/invalidArgument`` for another mode, or a source without a mode.
    package static func parse(_ options: [(name: String, value: String)]) throws -> (CloudEventsOptions?, rest: [(name: String, value: String)]) {
        var (mode, source): (CloudEventsMode?, String?) = (nil, nil)
        var rest: [(name: String, value: String)] = []
        for (name, value) in options {
            switch name {
            case "cloudevents":
                guard let m = CloudEventsMode(rawValue: value) else {
                    throw OutboxError(.invalidArgument, "cloudevents takes binary or structured, not \(value)")
                }
                mode = m
            case "cloudevents-source": source = value
            default: rest.append((name, value))
            }
        }
        guard let mode else {
            if source != nil { throw OutboxError(.invalidArgument, "cloudevents-source needs cloudevents=binary or cloudevents=structured") }
            return (nil, rest)
        }
        return (CloudEventsOptions(mode: mode, source: source), rest)
    }

    /// The option names ``parse(_:)`` takes, for a sink's error about an unknown option.
    package static let optionNames = "cloudevents, cloudevents-source"
}

/// The two content modes of the CloudEvents protocol bindings.
public enum CloudEventsMode: String, Sendable {
    /// The event's attributes as the protocol's headers, its data as the payload.
    case binary
    /// The whole event as the payload, in the JSON event format.
    case structured
}
