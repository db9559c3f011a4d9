import Foundation

/// `relay-status.json` (FORMAT.md §1): what the active relay last said about itself, for `outbox stats`
/// in another process. Advisory: written (temporary file, rename) by the relay holding `relay.lock`
/// when its state changes and at every sweep; a reader trusts it only while that relay's pid holds the
/// lock.
package struct RelayStatusFile: Sendable, Equatable {
    package static let fileName = FileNames.relayStatus

    package var pid: Int32
    /// `active` or `standby`.
    package var state: String
    package var sinkReachable: Bool
    /// The sink's error while it is unreachable.
    package var lastError: String?
    /// When a batch was last published, in microseconds since the Unix epoch.
    package var lastPublishMicros: Int64?
    /// While the sink is unreachable: since when, in microseconds since the Unix epoch.
    package var unreachableSinceMicros: Int64?
    /// With several routes: each route's own (the fields above then combine them: reachable while every
    /// route's sink is, the earliest outage, the latest publish).
    package var routes: [RouteState] = []

    /// What one route of the relay last said.
    package struct RouteState: Sendable, Equatable {
        package var name: String
        package var sinkReachable: Bool
        package var lastError: String?
        package var lastPublishMicros: Int64?
        package var unreachableSinceMicros: Int64?
        /// Which messages the route takes (so that a reader can count what it has pending).
        package var match: RouteMatch

        package init(name: String, sinkReachable: Bool, lastError: String?, lastPublishMicros: Int64?, unreachableSinceMicros: Int64?,
                     match: RouteMatch = .all) {
            (self.name, self.sinkReachable, self.lastError) = (name, sinkReachable, lastError)
            (self.lastPublishMicros, self.unreachableSinceMicros, self.match) = (lastPublishMicros, unreachableSinceMicros, match)
        }
    }

    package init(pid: Int32, state: String, sinkReachable: Bool, lastError: String?, lastPublishMicros: Int64?,
                 unreachableSinceMicros: Int64? = nil) {
        (self.pid, self.state, self.sinkReachable, self.lastError, self.lastPublishMicros) = (pid, state, sinkReachable, lastError, lastPublishMicros)
        self.unreachableSinceMicros = unreachableSinceMicros
    }

    /// One JSON object: `{"lastError":…|null,"lastPublishMicros":…|null,"pid":…,"sinkReachable":…,"state":…,
    /// "unreachableSinceMicros":…|null}`, with several routes also `"routes":[{"name":…, the same four
    /// fields, "match":[{"type"|"key"|"header":…}, …]}]` (``RouteMatch/fields``; `[]` takes every message).
    package func encode() -> [UInt8] {
        var object: [String: Any] = ["pid": pid, "state": state, "sinkReachable": sinkReachable,
                                     "lastError": lastError ?? NSNull(), "lastPublishMicros": lastPublishMicros ?? NSNull(),
                                     "unreachableSinceMicros": unreachableSinceMicros ?? NSNull()]
        if !routes.isEmpty {
            object["routes"] = routes.map { r -> [String: Any] in
                ["name": r.name, "sinkReachable": r.sinkReachable, "lastError": r.lastError ?? NSNull(),
                 "lastPublishMicros": r.lastPublishMicros ?? NSNull(), "unreachableSinceMicros": r.unreachableSinceMicros ?? NSNull(),
                 "match": r.match.fields.map { [$0.field: $0.text] }]
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data) + [UInt8(ascii: "\n")]
    }

    /// The file's content, or nil when it is missing or not what ``encode()`` writes.
    package static func decode(_ bytes: [UInt8]) -> RelayStatusFile? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let pid = (o["pid"] as? NSNumber)?.int32Value, let state = o["state"] as? String,
              let reachable = o["sinkReachable"] as? Bool else { return nil }
        var status = RelayStatusFile(pid: pid, state: state, sinkReachable: reachable, lastError: o["lastError"] as? String,
                                     lastPublishMicros: (o["lastPublishMicros"] as? NSNumber)?.int64Value,
                                     unreachableSinceMicros: (o["unreachableSinceMicros"] as? NSNumber)?.int64Value)
        status.routes = (o["routes"] as? [[String: Any]] ?? []).compactMap { r in
            guard let name = r["name"] as? String, let reachable = r["sinkReachable"] as? Bool,
                  let match = Self.match(r["match"]) else { return nil }
            return RouteState(name: name, sinkReachable: reachable, lastError: r["lastError"] as? String,
                              lastPublishMicros: (r["lastPublishMicros"] as? NSNumber)?.int64Value,
                              unreachableSinceMicros: (r["unreachableSinceMicros"] as? NSNumber)?.int64Value, match: match)
        }
        return status
    }

    /// A route's `match` as ``encode()`` writes it (missing: every message, as a relay before it wrote them);
    /// nil when it is not that.
    private static func match(_ value: Any?) -> RouteMatch? {
        guard let value else { return .all }
        guard let objects = value as? [[String: String]] else { return nil }
        var conditions: [RouteMatch.Condition] = []
        for object in objects {
            guard object.count == 1, let (field, text) = object.first, let c = RouteMatch.condition(field, text) else { return nil }
            conditions.append(c)
        }
        return RouteMatch(conditions)
    }

    /// Where a new status is written before it replaces the file: not a `.tmp-` name (a relay killed
    /// while writing one leaves nothing `verify` reports), removed when a relay next opens the outbox.
    package static let pendingName = fileName + ".new"

    /// Replaces the file in `directory`: written to ``pendingName``, then renamed over it, so a reader sees
    /// the old status or the new one. Advisory, rewritten at every change and sweep: neither is synced
    /// (after a power cut a reader may find the previous one, or none).
    func write(in directory: OutboxDirectory) throws {
        let file = try directory.openOrCreateFile(Self.pendingName)
        try file.truncate(to: 0)
        try file.write(encode(), at: 0)
        try directory.rename(Self.pendingName, to: Self.fileName)
    }

    /// The status the relay holding `relay.lock` (pid `holder`) wrote, if it wrote one.
    static func read(in directory: OutboxDirectory, holder: Int32?) -> RelayStatusFile? {
        guard let holder, let file = try? directory.openFile(fileName, writable: false), let size = try? file.size(), size < 1 << 16,
              let bytes = try? file.read(at: 0, count: Int(size)), let status = decode(bytes), status.pid == holder else { return nil }
        return status
    }
}
