import Foundation

/// A broker destination (subject, topic) with `{type}` and `{key}` placeholders, filled in per
/// message. Each broker says which characters a filled-in token cannot hold; they become `_`, and an
/// empty token (a message without a key) is `_`.
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

    package init(_ template: String, forbidden: @escaping @Sendable (Character) -> Bool) {
        self.template = template
        self.forbidden = forbidden
        replacedASCII = (0..<128).map { b in b < 0x20 || b == 0x7F || forbidden(Character(Unicode.Scalar(UInt8(b)))) }
        var parts: [Part] = []
        var rest = template[...]
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
