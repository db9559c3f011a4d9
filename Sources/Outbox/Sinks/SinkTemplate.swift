import Foundation

/// A broker destination (subject, topic) with `{type}` and `{key}` placeholders, filled in per
/// message. Each broker says which characters a filled-in token cannot hold; they become `_`, and an
/// empty token (a message without a key) is `_`.
package struct SinkTemplate: Sendable {
    package let template: String
    private let forbidden: @Sendable (Character) -> Bool

    package init(_ template: String, forbidden: @escaping @Sendable (Character) -> Bool) {
        self.template = template
        self.forbidden = forbidden
    }

    /// The destination of `m`.
    package func render(_ m: StoredMessage) -> String {
        template
            .replacingOccurrences(of: "{type}", with: token(m.message.type))
            .replacingOccurrences(of: "{key}", with: token(m.message.key ?? ""))
    }

    /// The template with both placeholders replaced by `wildcard` (what a stream or a subscription
    /// covering every destination uses).
    package func covering(_ wildcard: String) -> String {
        template.replacingOccurrences(of: "{type}", with: wildcard).replacingOccurrences(of: "{key}", with: wildcard)
    }

    private func token(_ s: String) -> String {
        let t = String(s.map { c -> Character in forbidden(c) || c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } ? "_" : c })
        return t.isEmpty ? "_" : t
    }
}
