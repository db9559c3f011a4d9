import Foundation
import Testing
@testable import Outbox
import OutboxTestSupport

/// Reads back what `form` rendered, as a probe of its broker would.
func readBack(_ m: StoredMessage, _ form: CloudEventsForm) -> ReadBack {
    let r = form.render(m)
    let headers = Dictionary(r.headers.map { ($0.name, $0.value) }) { first, _ in first }
    switch form.binding {
    case .nats: return ReadBack(binding: "http", headers: headers, body: r.payload, key: nil, payload: m.message.payload)
    case .kafka: return ReadBack(binding: "kafka", headers: headers, body: r.payload, key: m.message.key, payload: m.message.payload)
    case .mqtt: return ReadBack.mqtt(properties: headers, contentType: r.contentType, body: r.payload, payload: m.message.payload)
    }
}

@Suite("CloudEvents")
struct CloudEventsTests {
    /// Every binding in both modes gives events the CloudEvents SDK for Python decodes, each with the
    /// outbox message's id, type, source, time, subject, data and extensions.
    @Test(arguments: [CloudEventsMode.binary, .structured])
    func everyBindingsEventsDecodeWithTheSDK(mode: CloudEventsMode) async throws {
        let messages = try cloudEventsSamples().enumerated().map { StoredMessage(seq: UInt64($0.offset + 41), message: $0.element, segment: "s", offset: 64, compressed: false) }
        for binding in [CloudEventsForm.Binding.nats, .kafka, .mqtt] {
            let form = CloudEventsForm(CloudEventsOptions(mode: mode, source: "urn:test:device-1"), binding: binding, outboxID: nil)
            let run = try await decodeWithCloudEventsSDK(messages.map { readBack($0, form) })
            #expect(run.status == 0, "\(binding) \(mode): \(run.stderr) \(run.events.compactMap(\.error))")
            let problems = cloudEventsProblems(run.events, messages, source: "urn:test:device-1")
            #expect(problems.isEmpty, "\(binding) \(mode): \(problems.joined(separator: "\n"))")
        }
    }

    /// The bindings' spellings: NATS percent-encodes, Kafka puts the data's content type in
    /// `content-type`, MQTT in the Content Type property and leaves out headers that are not extension
    /// names; structured mode embeds JSON data and base64 for other data.
    @Test func eachBindingSpellsItsOwn() throws {
        let messages = try cloudEventsSamples().enumerated().map { StoredMessage(seq: UInt64($0.offset + 41), message: $0.element, segment: "s", offset: 64, compressed: false) }
        func form(_ b: CloudEventsForm.Binding, _ mode: CloudEventsMode = .binary) -> CloudEventsForm {
            CloudEventsForm(CloudEventsOptions(mode: mode, source: "urn:s"), binding: b, outboxID: nil)
        }
        func header(_ r: CloudEventsForm.Rendered, _ name: String) -> String? { r.headers.first { $0.name == name }?.value }
        let nats = form(.nats).render(messages[3])
        #expect(header(nats, "ce-type") == "Caf%C3%A9%20ordered" && header(nats, "ce-subject") == "cl%C3%A9%201")
        #expect(header(nats, "note") == "50% \"off\"", "the message's own headers stay as they are")
        let kafka = form(.kafka).render(messages[0])
        #expect(header(kafka, "content-type") == "application/json" && header(kafka, "ce_datacontenttype") == nil)
        #expect(header(kafka, "ce_outboxschemaversion") == "2" && header(kafka, "tenant") == "t1")
        let mqtt = form(.mqtt).render(messages[1])
        #expect(header(mqtt, "outboxlane") == "critical" && header(mqtt, "x-n") == nil && mqtt.contentType == nil)
        #expect(form(.mqtt).render(messages[0]).contentType == "application/json")
        let structured = form(.kafka, .structured).render(messages[0])
        #expect(header(structured, "content-type") == CloudEventsForm.structuredContentType)
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(structured.payload)) as? [String: Any])
        #expect((envelope["data"] as? [String: Any])?["orderID"] as? String == "o-17" && envelope["data_base64"] == nil)
        let raw = try #require(try JSONSerialization.jsonObject(with: Data(form(.nats, .structured).render(messages[1]).payload)) as? [String: Any])
        #expect(raw["data_base64"] as? String == "AP8BAg==" && raw["data"] == nil)
        #expect(CloudEventsOptions.defaultSource(outboxID: nil).hasPrefix("urn:outbox:"))
        let id = OutboxID.random()
        #expect(CloudEventsOptions.defaultSource(outboxID: id) == CloudEventsOptions.defaultSource(outboxID: nil) + ":\(id)")
    }

    /// The sink URL options: a mode, a source, and what is refused.
    @Test func theSinkOptionsParse() throws {
        let (options, rest) = try CloudEventsOptions.parse([("cloudevents", "structured"), ("cloudevents-source", "urn:x"), ("subject", "s")])
        #expect(options == CloudEventsOptions(mode: .structured, source: "urn:x") && rest.map(\.name) == ["subject"])
        #expect(try CloudEventsOptions.parse([("subject", "s")]).0 == nil)
        #expect { try CloudEventsOptions.parse([("cloudevents", "json")]) } throws: { ($0 as? OutboxError)?.message.contains("binary or structured") == true }
        #expect { try CloudEventsOptions.parse([("cloudevents-source", "urn:x")]) } throws: { ($0 as? OutboxError)?.message.contains("needs cloudevents=") == true }
    }
}
