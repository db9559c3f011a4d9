import Foundation

/// An outbox message as one protocol binding's CloudEvent (``CloudEventsOptions``): the headers, the
/// payload and (MQTT) the Content Type property a broker sink sends.
package struct CloudEventsForm: Sendable {
    /// The protocol bindings of the broker sinks.
    package enum Binding: Sendable {
        /// `ce-` headers, values percent-encoded; structured mode's content type in `Content-Type`.
        case nats
        /// `ce_` headers; `datacontenttype` and structured mode's content type in `content-type`.
        case kafka
        /// User properties named as the attributes; `datacontenttype` and structured mode's content type
        /// in the Content Type property.
        case mqtt
    }

    /// What a sink sends for one message.
    package struct Rendered {
        package var headers: [(name: String, value: String)]
        /// The payload (the message's own, in binary mode).
        package var payload: [UInt8]
        /// MQTT's Content Type property, if any.
        package var contentType: String?
    }

    package let mode: CloudEventsMode
    package let binding: Binding
    package let source: String

    /// The form `options` give for `binding`; the default source names `outboxID` when it is known.
    package init(_ options: CloudEventsOptions, binding: Binding, outboxID: OutboxID?) {
        mode = options.mode
        self.binding = binding
        source = options.source ?? CloudEventsOptions.defaultSource(outboxID: outboxID)
    }

    /// The media type of the JSON event format, structured mode's content type.
    package static let structuredContentType = "application/cloudevents+json; charset=utf-8"

    /// Whether `name` can name a CloudEvents extension attribute: 1 to 20 lowercase ASCII letters and digits.
    static func isExtensionName(_ name: String) -> Bool {
        (1...20).contains(name.utf8.count) && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) }
    }

    /// The names of the attributes this form sets (an MQTT user property of the message named as one is
    /// left out in binary mode: it would be read as the attribute).
    private static let attributeNames: Set<String> = ["specversion", "id", "source", "type", "time", "subject", "datacontenttype",
                                                     "dataschema", "outboxseq", "outboxlane", "outboxschemaversion"]

    /// The message as this form's event.
    package func render(_ m: StoredMessage) -> Rendered {
        let message = m.message
        var contentType: String?
        var dataSchema: String?
        var own: [(name: String, value: String)] = []
        own.reserveCapacity(message.headers.count)
        for h in message.headers {
            switch h.name.lowercased() {
            case "content-type" where contentType == nil: contentType = h.value
            case "dataschema" where dataSchema == nil: dataSchema = h.value
            default: own.append((h.name, h.value))
            }
        }
        var attributes: [(name: String, value: String)] = [
            ("specversion", "1.0"), ("id", message.id.description), ("source", source), ("type", message.type),
            ("time", rfc3339(micros: message.createdAtMicros)),
        ]
        if let key = message.key { attributes.append(("subject", key)) }
        if let dataSchema { attributes.append(("dataschema", dataSchema)) }
        attributes.append(("outboxseq", String(m.seq)))
        if message.lane != .normal { attributes.append(("outboxlane", message.lane.name)) }
        if let v = message.schemaVersion { attributes.append(("outboxschemaversion", String(v))) }

        switch mode {
        case .binary:
            var headers: [(name: String, value: String)] = []
            headers.reserveCapacity(attributes.count + own.count + 1)
            var property: String?
            switch binding {
            case .nats:
                headers = attributes.map { ("ce-" + $0.name, Self.percentEncoded($0.value)) }
                if let contentType { headers.append(("ce-datacontenttype", Self.percentEncoded(contentType))) }
                headers += own
            case .kafka:
                headers = attributes.map { ("ce_" + $0.name, $0.value) }
                if let contentType { headers.append(("content-type", contentType)) }
                headers += own
            case .mqtt:
                headers = attributes
                property = contentType
                // Every user property of a binary MQTT event is an attribute: a header goes as one only if
                // its name is an extension's (1 to 20 lowercase letters and digits) and not this form's.
                headers += own.filter { Self.isExtensionName($0.name) && !Self.attributeNames.contains($0.name) }
            }
            return Rendered(headers: headers, payload: message.payload, contentType: property)
        case .structured:
            var json: [UInt8] = []
            json.reserveCapacity(message.payload.count + 256)
            json.append(UInt8(ascii: "{"))
            for (i, a) in attributes.enumerated() {
                if i > 0 { json.append(UInt8(ascii: ",")) }
                JSONLine.appendQuoted(a.name, to: &json)
                json.append(UInt8(ascii: ":"))
                JSONLine.appendQuoted(a.value, to: &json)
            }
            if let contentType {
                json.append(contentsOf: Array(",\"datacontenttype\":".utf8))
                JSONLine.appendQuoted(contentType, to: &json)
            }
            if Self.isJSON(contentType), (try? JSONSerialization.jsonObject(with: Data(message.payload), options: [.fragmentsAllowed])) != nil {
                json.append(contentsOf: Array(",\"data\":".utf8))
                json.append(contentsOf: message.payload)
            } else if !message.payload.isEmpty {
                json.append(contentsOf: Array(",\"data_base64\":\"".utf8))
                json.append(contentsOf: Array(Data(message.payload).base64EncodedString().utf8))
                json.append(UInt8(ascii: "\""))
            }
            json.append(UInt8(ascii: "}"))
            switch binding {
            case .nats: return Rendered(headers: [("Content-Type", Self.structuredContentType)] + own, payload: json, contentType: nil)
            case .kafka: return Rendered(headers: [("content-type", Self.structuredContentType)] + own, payload: json, contentType: nil)
            case .mqtt: return Rendered(headers: own, payload: json, contentType: Self.structuredContentType)
            }
        }
    }

    /// Whether a payload of `contentType` is JSON (`application/json`, `text/json`, `…+json`, with any
    /// parameters).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return type == "application/json" || type == "text/json" || type.hasSuffix("+json")
    }

    /// `value` percent-encoded as the NATS (and HTTP) binding asks: every byte outside printable ASCII, and
    /// space, `"` and `%`, as `%XX`.
    static func percentEncoded(_ value: String) -> String {
        guard value.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "%") }) else { return value }
        var out = ""
        for b in value.utf8 {
            if b <= 0x20 || b >= 0x7F || b == UInt8(ascii: "\"") || b == UInt8(ascii: "%") {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            } else {
                out.unicodeScalars.append(UnicodeScalar(b))
            }
        }
        return out
    }
}
