/// Which messages a route takes (``OutboxRoute``): every condition must hold; no condition takes every
/// message. Globs take `*` (any run of characters, none included) and `?` (one character).
public struct RouteMatch: Sendable, Equatable, CustomStringConvertible {
    /// One condition on a message.
    public enum Condition: Sendable, Equatable {
        /// The message's type matches the glob.
        case type(String)
        /// The message has a header of this name; with a value, one of that name with that value.
        case header(String, equals: String?)
        /// The message has an ordering key matching the glob.
        case key(String)
    }

    public var conditions: [Condition]

    public init(_ conditions: [Condition] = []) { self.conditions = conditions }

    /// Every message.
    public static let all = RouteMatch()

    /// Messages whose type matches `glob` (`Alarm*`).
    public static func type(_ glob: String) -> RouteMatch { RouteMatch([.type(glob)]) }

    /// Messages with header `name` (with `value`, when given).
    public static func header(_ name: String, equals value: String? = nil) -> RouteMatch { RouteMatch([.header(name, equals: value)]) }

    /// Messages whose ordering key matches `glob`.
    public static func key(_ glob: String) -> RouteMatch { RouteMatch([.key(glob)]) }

    /// Whether `message` meets every condition.
    public func matches(_ message: OutboxMessage) -> Bool {
        conditions.allSatisfy { condition in
            switch condition {
            case .type(let glob): Self.glob(glob, matches: message.type)
            case .header(let name, let value): message.headers.contains { $0.name == name && (value == nil || $0.value == value) }
            case .key(let glob): message.key.map { Self.glob(glob, matches: $0) } ?? false
            }
        }
    }

    /// One condition as the relay's files write it: `type` or `key` and a glob, `header` and `NAME` or
    /// `NAME=VALUE` (the `match` object of `outbox relay --config`, FORMAT.md §1 for `relay-status.json`).
    public static func condition(_ field: String, _ text: String) -> Condition? {
        guard !text.isEmpty else { return nil }
        switch field {
        case "type": return .type(text)
        case "key": return .key(text)
        case "header":
            let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { return nil }
            return .header(parts[0], equals: parts.count > 1 ? parts[1] : nil)
        default: return nil
        }
    }

    /// The conditions as ``condition(_:_:)`` reads them, in order.
    public var fields: [(field: String, text: String)] {
        conditions.map { c in
            switch c {
            case .type(let g): ("type", g)
            case .key(let g): ("key", g)
            case .header(let n, let v): ("header", v.map { "\(n)=\($0)" } ?? n)
            }
        }
    }

    public var description: String {
        conditions.isEmpty ? "*" : conditions.map { c in
            switch c {
            case .type(let g): "type=\(g)"
            case .header(let n, let v): v.map { "header \(n)=\($0)" } ?? "header \(n)"
            case .key(let g): "key=\(g)"
            }
        }.joined(separator: " and ")
    }

    /// Whether `text` matches `glob` (`*` any run, `?` one character), by characters.
    static func glob(_ glob: String, matches text: String) -> Bool {
        let p = Array(glob), t = Array(text)
        var (i, j) = (0, 0)
        var star: (p: Int, t: Int)?
        while j < t.count {
            if i < p.count, p[i] == "?" || p[i] == t[j] {
                i += 1
                j += 1
            } else if i < p.count, p[i] == "*" {
                star = (i, j)
                i += 1
            } else if let s = star {
                i = s.p + 1
                j = s.t + 1
                star = (s.p, s.t + 1)
            } else {
                return false
            }
        }
        while i < p.count, p[i] == "*" { i += 1 }
        return i == p.count
    }
}
