/// A sink as the `outbox` tool names it: `SCHEME://ADDRESS[?NAME=VALUE&...]`.
package struct SinkSpec: Sendable {
    package let scheme: String
    /// What follows `SCHEME://`, up to the `?`.
    package let address: String
    package let options: [(name: String, value: String)]

    /// Parses `text`, whose scheme must be one of `schemes`; `form` shows the expected shape in errors.
    package init(_ text: String, schemes: [String], form: String) throws {
        guard let scheme = schemes.first(where: { text.hasPrefix($0 + "://") }) else {
            throw OutboxError(.invalidArgument, "expected \(form), not \(text)")
        }
        let rest = text.dropFirst(scheme.count + 3)
        let parts = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard !parts[0].isEmpty else { throw OutboxError(.invalidArgument, "\(text) names no broker (expected \(form))") }
        var options: [(String, String)] = []
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2, !kv[1].isEmpty else { throw OutboxError(.invalidArgument, "sink option \(pair) has no value") }
                options.append((kv[0], kv[1]))
            }
        }
        self.scheme = scheme
        self.address = String(parts[0])
        self.options = options
    }

    /// The error for an option the sink does not know.
    package static func unknown(_ name: String, known: String) -> OutboxError {
        OutboxError(.invalidArgument, "unknown sink option \(name) (known: \(known))")
    }
}
