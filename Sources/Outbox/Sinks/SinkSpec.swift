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

    /// `address` (comma-separated `[USERINFO@]HOST[:PORT]`) with every user-info secret masked:
    /// `user:password@` becomes `user:***@` and a bare token `token@` becomes `***@`. Logs and errors
    /// show only this form.
    package static func redacted(_ address: String) -> String {
        address.split(separator: ",", omittingEmptySubsequences: false).map { entry -> String in
            var e = Substring(entry)
            var prefix = ""
            if let r = e.range(of: "://") {
                prefix = String(e[..<r.upperBound])
                e = e[r.upperBound...]
            }
            guard let at = e.lastIndex(of: "@") else { return prefix + e }
            let userinfo = e[..<at]
            let masked = userinfo.firstIndex(of: ":").map { String(userinfo[..<$0]) + ":***" } ?? "***"
            return prefix + masked + String(e[at...])
        }.joined(separator: ",")
    }

    /// Checks each comma-separated `[SCHEME://][USERINFO@]HOST[:PORT]` of `address`: a host, and a port
    /// (when given) from 1 to 65535. `what` names the sink in the error.
    package static func checkHostsAndPorts(_ address: String, what: String) throws {
        for entry in address.split(separator: ",", omittingEmptySubsequences: false) {
            var e = Substring(entry)
            if let r = e.range(of: "://") { e = e[r.upperBound...] }
            if let at = e.lastIndex(of: "@") { e = e[e.index(after: at)...] }
            var host = e
            if e.hasPrefix("["), let close = e.firstIndex(of: "]") {  // [IPv6]:port
                host = e[...close]
                e = e[e.index(after: close)...]
                if !e.isEmpty && !e.hasPrefix(":") {
                    throw OutboxError(.invalidArgument, "\(what): \(redacted(String(entry))) is not HOST:PORT")
                }
            } else if let colon = e.lastIndex(of: ":") {
                host = e[..<colon]
                e = e[colon...]
            } else {
                e = ""
            }
            guard !host.isEmpty else { throw OutboxError(.invalidArgument, "\(what): \(redacted(String(entry))) names no host") }
            if e.hasPrefix(":") {
                let port = e.dropFirst()
                guard let p = Int(port), (1...65535).contains(p), port.allSatisfy(\.isNumber) else {
                    throw OutboxError(.invalidArgument, "\(what): the port in \(redacted(String(entry))) is not a port number (1-65535)")
                }
            }
        }
    }
}
