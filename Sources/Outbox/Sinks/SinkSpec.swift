import Foundation

/// A sink as the `outbox` tool names it: `SCHEME://ADDRESS[?NAME=VALUE&...]`. Option names and values are
/// percent-decoded (`subject=ev%2E%7Btype%7D` is `ev.{type}`); an option given twice is refused.
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
                guard let name = kv[0].removingPercentEncoding, let value = kv[1].removingPercentEncoding else {
                    throw OutboxError(.invalidArgument, "sink option \(kv[0]) is not valid percent-encoding")
                }
                guard !options.contains(where: { $0.0 == name }) else {
                    throw OutboxError(.invalidArgument, "sink option \(name) is given twice")
                }
                options.append((name, value))
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
            _ = try hostAndPort(e, what: what, shown: redacted(String(entry)))
        }
    }

    /// `HOST[:PORT]` or `[IPv6]`, `[IPv6]:PORT`: the host (an IPv6 address without its brackets) and the
    /// port if given (1 to 65535); `shown` is what errors show of it. The one parser of addresses.
    package static func hostAndPort(_ text: Substring, what: String, shown: String? = nil) throws -> (host: String, port: Int?) {
        let shown = shown ?? String(text)
        var host: Substring
        var rest: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            rest = text[text.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":") else { throw OutboxError(.invalidArgument, "\(what): \(shown) is not HOST:PORT") }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            rest = text[colon...]
            if host.contains(":") {
                throw OutboxError(.invalidArgument, "\(what): \(shown) holds an IPv6 address without brackets (write [ADDRESS]:PORT)")
            }
        } else {
            host = text
            rest = ""
        }
        guard !host.isEmpty else { throw OutboxError(.invalidArgument, "\(what): \(shown) names no host") }
        guard rest.hasPrefix(":") else { return (String(host), nil) }
        let port = rest.dropFirst()
        guard let p = Int(port), (1...65535).contains(p), port.allSatisfy(\.isNumber) else {
            throw OutboxError(.invalidArgument, "\(what): the port in \(shown) is not a port number (1-65535)")
        }
        return (String(host), p)
    }
}
