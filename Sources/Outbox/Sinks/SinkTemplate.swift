import Foundation

/// A broker destination (subject, topic) with `{type}` and `{key}` placeholders, filled in per
/// message, and `{outbox}` (the outbox's id) and `{host}` (this machine's host name), filled in once,
/// so that a fleet of devices can publish into one stream with one template. Each broker says which
/// characters a filled-in token cannot hold; they become `_`, and an empty token (a message without a
/// key) is `_`.
///
/// The template is parsed once; filling it in runs for every message a sink publishes, so a token of
/// plain ASCII that needs no replacing is used as it is.
package struct SinkTemplate: Sendable {
    package let template: String
    private enum Part: Sendable { case text(String), type, key }
    private let parts: [Part]
    private let forbidden: @Sendable (Character) -> Bool
    /// For each ASCII byte, whether it becomes `_` in a token (forbidden by the broker, or a control).
    private let replacedASCII: [Bool]

    /// - Parameters:
    ///   - outbox: the outbox's id, for `{outbox}` (a template using it without one is refused by
    ///     ``placeholderProblem(_:outbox:)``; here it becomes `_`).
    ///   - host: this machine's host name, for `{host}`.
    package init(_ template: String, outbox: OutboxID? = nil, host: String = SinkTemplate.hostName,
                 forbidden: @escaping @Sendable (Character) -> Bool) {
        self.forbidden = forbidden
        replacedASCII = (0..<128).map { b in b < 0x20 || b == 0x7F || forbidden(Character(Unicode.Scalar(UInt8(b)))) }
        self.template = Self.sanitized(Self.sanitized(template, "{outbox}", outbox.map { "\($0)" } ?? "", forbidden), "{host}", host, forbidden)
        var parts: [Part] = []
        var rest = self.template[...]
        while !rest.isEmpty {
            let type = rest.range(of: "{type}")
            let key = rest.range(of: "{key}")
            guard let next = [type, key].compactMap({ $0 }).min(by: { $0.lowerBound < $1.lowerBound }) else {
                parts.append(.text(String(rest)))
                break
            }
            if next.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<next.lowerBound]))) }
            parts.append(next == type ? .type : .key)
            rest = rest[next.upperBound...]
        }
        self.parts = parts
    }

    /// This machine's host name (`gethostname`), or `localhost` when it has none.
    package static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }()

    /// Why `template` cannot be used without an outbox id: it names `{outbox}` and none is given.
    package static func placeholderProblem(_ template: String, outbox: OutboxID?) -> String? {
        template.contains("{outbox}") && outbox == nil
            ? "\(template) uses {outbox}, and no outbox id was given (outbox relay fills it in; in code, set the sink configuration's outboxID)"
            : nil
    }

    /// `template` with `placeholder` replaced by `value`, its characters the broker forbids as `_`.
    private static func sanitized(_ template: String, _ placeholder: String, _ value: String,
                                  _ forbidden: (Character) -> Bool) -> String {
        guard template.contains(placeholder) else { return template }
        let token = String(value.map { c -> Character in forbidden(c) || c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } ? "_" : c })
        return template.replacingOccurrences(of: placeholder, with: token.isEmpty ? "_" : token)
    }

    /// The destination of `m`.
    package func render(_ m: StoredMessage) -> String {
        if parts.count == 1, case .text(let t) = parts[0] { return t }
        var out = ""
        for part in parts {
            switch part {
            case .text(let t): out += t
            case .type: out += token(m.message.type)
            case .key: out += token(m.message.key ?? "")
            }
        }
        return out
    }

    /// The template with both placeholders replaced by `wildcard` (what a stream or a subscription
    /// covering every destination uses).
    package func covering(_ wildcard: String) -> String {
        template.replacingOccurrences(of: "{type}", with: wildcard).replacingOccurrences(of: "{key}", with: wildcard)
    }

    private func token(_ s: String) -> String {
        if !s.isEmpty, s.utf8.allSatisfy({ $0 < 0x80 && !replacedASCII[Int($0)] }) { return s }
        let t = String(s.map { c -> Character in forbidden(c) || c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } ? "_" : c })
        return t.isEmpty ? "_" : t
    }
}
