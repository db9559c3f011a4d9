import Foundation
import Logging
import Outbox

/// The `routes` of `outbox relay --config FILE`: several sinks, each with a name, a match and options of
/// its own, for example
///
///     {"routes": [{"name": "cloud", "sink": "nats://…", "match": {"type": "Alarm*"}},
///                 {"name": "audit", "sink": "file:/var/log/audit.jsonl"}]}
///
/// A route without `match` takes every message. `match` takes `type` (a glob), `key` (a glob) and
/// `header` (`NAME`, or `NAME=VALUE`); all that are given must hold. `sink` takes what `--sink` takes
/// (or `sink-file`, a file holding it). A route's options (`batch`, `max-attempts`, `max-outage-backoff`,
/// `default-ttl`, `strict-order`, `dead-letter-expired`, `max-bytes-per-second`, `burst-bytes`, `uplink-budget`, `when-budget-spent`, `lanes`, `live-within`, `live-share`) take the place of the relay's for it;
/// `from-now: true` makes a route new to the outbox serve only what is appended from its first start.
/// Anything else is refused with one line naming the file and the route.
struct RelayRoutesFile {
    struct Route {
        var name: String
        var sink: String
        var match: RouteMatch
        var batch: Int?
        var maxBytesPerSecond: Int?
        var burstBytes: Int?
        var uplinkBudget: UplinkBudget?
        var lanes: [LaneWeight]?
        var whenBudgetSpent: UplinkBudget.WhenSpent?
        var liveWithin: Double?
        var liveShare: Double?
        var maxAttempts: Int?
        var maxOutageBackoff: Double?
        var defaultTtl: Double?
        var strictOrder: Bool?
        var deadLetterExpired: Bool?
        var fromNow = false
    }

    static let routeKeys: Set<String> = ["name", "sink", "sink-file", "match", "batch", "max-attempts", "max-outage-backoff",
                                         "default-ttl", "strict-order", "dead-letter-expired", "from-now", "max-bytes-per-second", "burst-bytes",
                                         "uplink-budget", "when-budget-spent", "lanes", "live-within", "live-share"]

    /// The routes of the file at `path`; nil when it has none.
    static func routes(at path: String) throws -> [Route]? {
        guard let bytes = try? BoundedFile.read(path, limit: RelayConfigFile.maxSize),
              let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return nil  // RelayConfigFile names what is wrong with the file itself
        }
        guard let value = object["routes"] else { return nil }
        guard let list = value as? [Any], !list.isEmpty else {
            throw OutboxError(.invalidArgument, "--config \(path): \"routes\" must be a list of one or more routes")
        }
        return try list.enumerated().map { i, item in
            guard let fields = item as? [String: Any] else {
                throw OutboxError(.invalidArgument, "--config \(path): route \(i + 1) must be an object")
            }
            return try route(fields, position: i + 1, path: path)
        }
    }

    private static func route(_ fields: [String: Any], position: Int, path: String) throws -> Route {
        let label = "--config \(path): route \(fields["name"] as? String ?? String(position))"
        func fail(_ what: String) -> OutboxError { OutboxError(.invalidArgument, "\(label): \(what)") }
        if let unknown = fields.keys.sorted().first(where: { !routeKeys.contains($0) }) {
            throw fail("unknown key \"\(unknown)\" (known: \(routeKeys.sorted().joined(separator: ", ")))")
        }
        guard let name = fields["name"] as? String else { throw fail("needs a \"name\"") }
        var spec: String
        switch (fields["sink"], fields["sink-file"]) {
        case (let s as String, nil): spec = s
        case (nil, let f as String):
            guard let bytes = try? BoundedFile.read(f, limit: 64 << 10), let text = String(validating: bytes, as: UTF8.self),
                  let line = text.split(whereSeparator: \.isNewline).first?.trimmingCharacters(in: .whitespaces), !line.isEmpty else {
                throw fail("sink-file \(f) cannot be read, is larger than 64 KiB, or holds no sink spec")
            }
            spec = line
        default: throw fail("needs \"sink\" or \"sink-file\" (a string, exactly one)")
        }
        do { try RelayCommand.validateSink(spec) } catch { throw fail("\(error)") }
        var route = Route(name: name, sink: spec, match: try match(fields["match"], label: label))
        // JSON's true and false come back as numbers whose type is a C char.
        func isFlag(_ v: Any) -> Bool { (v as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? false }
        func number(_ key: String) throws -> Double? {
            guard let v = fields[key] else { return nil }
            guard let n = v as? NSNumber, !isFlag(v), n.doubleValue.isFinite else { throw fail("\"\(key)\" must be a number") }
            return n.doubleValue
        }
        func flag(_ key: String) throws -> Bool? {
            guard let v = fields[key] else { return nil }
            guard isFlag(v), let b = v as? Bool else { throw fail("\"\(key)\" must be true or false") }
            return b
        }
        route.batch = try number("batch").map { Int(max(-1, min($0, 1e9))) }
        route.maxAttempts = try number("max-attempts").map { Int(max(-1, min($0, 1e9))) }
        route.maxBytesPerSecond = try number("max-bytes-per-second").map { Int(max(-1, min($0, 2e9))) }
        route.burstBytes = try number("burst-bytes").map { Int(max(-1, min($0, 2e9))) }
        for (key, value) in [("max-bytes-per-second", route.maxBytesPerSecond), ("burst-bytes", route.burstBytes)] {
            if let value, value < 1 { throw fail("\"\(key)\" must be at least 1 (bytes)") }
        }
        route.maxOutageBackoff = try number("max-outage-backoff")
        route.defaultTtl = try number("default-ttl")
        if let v = fields["uplink-budget"] {
            guard let text = v as? String, let b = UplinkBudgetArgument(argument: text) else {
                throw fail("\"uplink-budget\" must be SIZE/PERIOD (hour, day or month), e.g. \"10M/day\"")
            }
            route.uplinkBudget = b.budget
        }
        if let v = fields["when-budget-spent"] {
            guard let text = v as? String, let policy = UplinkBudget.WhenSpent(rawValue: text) else {
                throw fail("\"when-budget-spent\" must be \"hold\" or \"critical-only\"")
            }
            route.whenBudgetSpent = policy
        }
        if let v = fields["lanes"] {
            guard let text = v as? String else { throw fail("\"lanes\" must be a string NAME=WEIGHT,..., e.g. \"critical=8,normal=4,bulk=1\"") }
            switch LaneWeightsArgument.parse(text) {
            case .success(let weights): route.lanes = weights
            case .failure(let e): throw fail("\"lanes\": \(e)")
            }
        }
        route.liveWithin = try number("live-within")
        route.liveShare = try number("live-share")
        if let v = route.liveWithin {
            do { try RelayCommand.validateSeconds(v, "\"live-within\"", allowZero: false) } catch { throw fail("\(error)") }
        }
        if let v = route.liveShare, !(v > 0 && v < 1) { throw fail("\"live-share\" must be more than 0 and less than 1") }
        route.strictOrder = try flag("strict-order")
        route.deadLetterExpired = try flag("dead-letter-expired")
        route.fromNow = try flag("from-now") ?? false
        if route.liveWithin != nil, route.strictOrder == true { throw fail("live before backlog (\"live-within\") cannot be used with strict order") }
        if let b = route.batch, b < 1 { throw fail("\"batch\" must be at least 1") }
        if let a = route.maxAttempts, a < 1 { throw fail("\"max-attempts\" must be at least 1") }
        for (key, value) in [("max-outage-backoff", route.maxOutageBackoff), ("default-ttl", route.defaultTtl)] {
            if let value {
                do { try RelayCommand.validateSeconds(value, "\"\(key)\"", allowZero: false) } catch { throw fail("\(error)") }
            }
        }
        return route
    }

    private static func match(_ value: Any?, label: String) throws -> RouteMatch {
        func fail(_ what: String) -> OutboxError { OutboxError(.invalidArgument, "\(label): \(what)") }
        guard let value else { return .all }
        guard let fields = value as? [String: Any] else { throw fail("\"match\" must be an object of type, key and header") }
        var conditions: [RouteMatch.Condition] = []
        for (key, v) in fields.sorted(by: { $0.key < $1.key }) {
            guard let text = v as? String, !text.isEmpty else { throw fail("match \"\(key)\" must be a non-empty string") }
            guard let condition = RouteMatch.condition(key, text) else {
                throw fail(["type", "key", "header"].contains(key) ? "match \"\(key)\": \"\(text)\" is not a condition" : "match takes type, key and header, not \"\(key)\"")
            }
            conditions.append(condition)
        }
        return RouteMatch(conditions)
    }

    /// The library's routes: each route's options over the relay's `base` configuration.
    static func make(_ routes: [Route], base: OutboxRelayConfiguration, logger: Logger, dir: String) throws -> [OutboxRoute] {
        try routes.map { r in
            var c = base
            if let v = r.batch { c.batchSize = v }
            if let v = r.maxAttempts { c.maxAttempts = v }
            if let v = r.maxBytesPerSecond { c.maxBytesPerSecond = v }
            if let v = r.burstBytes { c.burstBytes = v }
            if let v = r.uplinkBudget { c.uplinkBudget = v }
            if let v = r.lanes { c.lanes = v }
            if let v = r.whenBudgetSpent {
                guard c.uplinkBudget != nil else {
                    throw OutboxError(.invalidArgument, "route \(r.name): \"when-budget-spent\" needs an uplink budget (\"uplink-budget\", or --uplink-budget)")
                }
                c.uplinkBudget?.whenSpent = v
            }
            if let v = r.maxOutageBackoff { c.maxOutageBackoff = .milliseconds(Int64(v * 1000)) }
            if let v = r.defaultTtl { c.defaultTimeToLive = .milliseconds(Int64(v * 1000)) }
            if let v = r.strictOrder { c.strictOrder = v }
            if let v = r.deadLetterExpired { c.deadLetterExpired = v }
            if let v = r.liveWithin { c.live = LiveShare(within: .milliseconds(Int64(v * 1000)), share: r.liveShare ?? c.live?.share ?? 0.5) }
            if let v = r.liveShare {
                guard c.live != nil else { throw OutboxError(.invalidArgument, "route \(r.name): \"live-share\" needs \"live-within\" (or --live-within)") }
                c.live?.share = v
            }
            if c.live != nil, c.strictOrder {
                throw OutboxError(.invalidArgument, "route \(r.name): live before backlog (\"live-within\") cannot be used with strict order")
            }
            var routeLogger = logger
            routeLogger[metadataKey: "route"] = "\(r.name)"
            return OutboxRoute(name: r.name, match: r.match, sink: try RelayCommand.makeSink(r.sink, logger: routeLogger, dir: dir), configuration: c,
                               startsFromNow: r.fromNow)
        }
    }
}
