import Foundation
import Outbox

/// One message as a probe read it back from a broker, for the CloudEvents SDK for Python
/// (`scripts/cloudevents-decode.py`).
public struct ReadBack: Sendable, Encodable {
    /// `kafka` (the SDK's Kafka binding) or `http` (its HTTP binding: NATS headers, MQTT user properties
    /// made `ce-` headers).
    public var binding: String
    public var headers: [String: String]
    /// The message body, base64.
    public var body: String
    public var key: String?
    /// The outbox message's payload, base64: the event's data must equal it.
    public var payload: String

    public init(binding: String, headers: [String: String], body: [UInt8], key: String?, payload: [UInt8]) {
        (self.binding, self.headers, self.key) = (binding, headers, key)
        self.body = Data(body).base64EncodedString()
        self.payload = Data(payload).base64EncodedString()
    }

    /// An MQTT 5 message read back: in binary mode each user property is an attribute (a `ce-` header to
    /// the HTTP binding) and the Content Type property is `datacontenttype`; in structured mode the
    /// Content Type says so.
    public static func mqtt(properties: [String: String], contentType: String?, body: [UInt8], payload: [UInt8]) -> ReadBack {
        var headers: [String: String] = [:]
        let structured = contentType?.lowercased().hasPrefix("application/cloudevents") == true
        if !structured { for (name, value) in properties { headers["ce-" + name] = value } }
        if let contentType { headers["content-type"] = contentType }
        return ReadBack(binding: "http", headers: headers, body: body, key: nil, payload: payload)
    }
}

/// What the SDK made of one message.
public struct DecodedCloudEvent: Sendable, Decodable {
    public var id: String?
    public var type: String?
    public var source: String?
    public var specversion: String?
    public var time: String?
    public var subject: String?
    public var datacontenttype: String?
    public var dataschema: String?
    public var extensions: [String: String]?
    public var dataMatches: Bool?
    /// Why the SDK refused the message.
    public var error: String?
}

/// Decodes `messages` with the CloudEvents SDK for Python (installed by `scripts/install-deps` into
/// `.build/py-deps`): one result per message, in order, and the script's exit status and standard error.
public func decodeWithCloudEventsSDK(_ messages: [ReadBack]) async throws -> (events: [DecodedCloudEvent], status: Int32, stderr: String) {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("cloudevents-\(UUID()).jsonl")
    defer { try? FileManager.default.removeItem(at: input) }
    let encoder = JSONEncoder()
    let lines = try messages.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
    try lines.write(to: input, atomically: true, encoding: .utf8)
    let script = root.appendingPathComponent("scripts/cloudevents-decode.py").path
    let run = try await runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", "exec python3 \"$0\" < \"$1\"", script, input.path],
                                   environment: ["PYTHONPATH": root.appendingPathComponent(".build/py-deps").path])
    let decoder = JSONDecoder()
    let events = try run.stdout.split(separator: "\n").map { try decoder.decode(DecodedCloudEvent.self, from: Data($0.utf8)) }
    return (events, run.status, run.stderr)
}
