import Foundation
@testable import Outbox

/// A typed event for the CloudEvents samples.
public struct SampleOrder: OutboxEvent, Equatable {
    public static let eventType = "com.example.order.placed"
    public static let schemaVersion = 2
    public var orderID: String
    public var cents: Int
    public var outboxKey: String? { orderID }
    public init(orderID: String, cents: Int) { (self.orderID, self.cents) = (orderID, cents) }
}

/// Messages that try the CloudEvents mapping: a typed event (JSON, a key, a schema version, headers),
/// raw bytes in a lane without a key, text that claims to be JSON and is not, a type and header values
/// that need percent-encoding, a data schema, an empty payload. Each has its id and creation time.
public func cloudEventsSamples() throws -> [OutboxMessage] {
    var messages: [OutboxMessage] = [
        try OutboxMessage(SampleOrder(orderID: "o-17", cents: 1250),
                          headers: [.init("tenant", "t1"), .init("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]),
        OutboxMessage(type: "com.example.raw", headers: [.init("x-n", "7")], payload: [0, 255, 1, 2], lane: .critical),
        OutboxMessage(type: "com.example.text", key: "k", headers: [.init("content-type", "application/json")], payload: Array("not json".utf8)),
        OutboxMessage(type: "Café ordered", key: "clé 1", headers: [.init("note", "50% \"off\""), .init("dataschema", "https://example.com/schemas/cafe.json")],
                      payload: Array("{\"a\": [1, 2]}".utf8)),
        OutboxMessage(type: "com.example.empty", payload: []),
    ]
    for i in messages.indices { messages[i].stamp(now: 1_780_000_000_123_456 + Int64(i), idTime: Date()) }
    return messages
}

/// The time as Python's `datetime.isoformat()` writes a UTC time (what the SDK gives back).
public func pythonISOFormat(micros: Int64) -> String {
    let rfc = rfc3339(micros: micros)  // 2026-11-29T16:40:00.123456Z
    let (seconds, fraction) = (rfc.prefix(19), rfc.dropFirst(20).prefix(6))
    return seconds + (fraction == "000000" ? "" : "." + fraction) + "+00:00"
}

/// What is wrong with what the SDK decoded, against the stored messages (matched by id): every message
/// decoded once, with the outbox's id, type, `source`, time, subject, content type, schema, extensions
/// (`outboxseq`, `outboxlane`, `outboxschemaversion`) and data. Empty when all is right.
public func cloudEventsProblems(_ decoded: [DecodedCloudEvent], _ messages: [StoredMessage], source: String) -> [String] {
    var problems = decoded.compactMap { $0.error.map { "refused: \($0)" } }
    if decoded.count != messages.count { problems.append("\(decoded.count) events for \(messages.count) messages") }
    let byID = Dictionary(decoded.compactMap { e in e.id.map { ($0, e) } }) { a, _ in a }
    for m in messages {
        let message = m.message
        guard let e = byID[message.id.description] else {
            problems.append("seq \(m.seq): no event with id \(message.id)")
            continue
        }
        let contentType = message.headers.first { $0.name == "content-type" }?.value
        let schema = message.headers.first { $0.name == "dataschema" }?.value
        var extensions = ["outboxseq": "\(m.seq)"]
        if message.lane != .normal { extensions["outboxlane"] = message.lane.name }
        if let v = message.schemaVersion { extensions["outboxschemaversion"] = "\(v)" }
        let ok = e.type == message.type && e.source == source && e.specversion == "1.0"
            && e.time == pythonISOFormat(micros: message.createdAtMicros) && e.subject == message.key
            && e.datacontenttype == contentType && e.dataschema == schema && e.dataMatches == true
            && extensions.allSatisfy { e.extensions?[$0.key] == $0.value }
        if !ok { problems.append("seq \(m.seq): \(e)") }
    }
    return problems
}

/// A new outbox at `dir` holding ``cloudEventsSamples()``, one commit each; the stored messages.
public func appendCloudEventsSamples(to dir: String) async throws -> [StoredMessage] {
    let outbox = try await Outbox.open(at: dir, logger: quietLogger)
    for m in try cloudEventsSamples() { try await outbox.append(m) }
    try await outbox.close()
    return try OutboxReader(path: dir).messages()
}
