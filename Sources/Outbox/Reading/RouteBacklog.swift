import Foundation

/// What one route of a relay of several routes has pending: the messages it takes (its match), at or
/// after its start, that neither it nor the outbox finished (FORMAT.md §5c).
package struct RouteBacklog: Sendable, Equatable {
    package var pending: UInt64 = 0
    package var oldestSeq: UInt64?
    package var oldestAgeSeconds: Double?

    package init() {}
}

extension OutboxReader {
    /// Each route's backlog, by one walk of the messages the outbox has not finished. With `oldestOnly`
    /// the walk stops once every route's oldest pending message is found (`pending` then counts only up
    /// to it).
    package func routeBacklogs(_ routes: [(name: String, match: RouteMatch)], now: ClockReading = OutboxClock.system.now(),
                               oldestOnly: Bool = false) throws -> [String: RouteBacklog] {
        guard !routes.isEmpty else { return [:] }
        let tombstones = try self.tombstones()
        let finished = tombstones.finished
        let progress = routes.map { tombstones.routes[$0.name] ?? RouteProgress() }
        var out = [RouteBacklog](repeating: RouteBacklog(), count: routes.count)
        var found = 0
        try forEachMessage(from: finished.firstMissing(from: 1)) { m in
            guard !finished.contains(m.seq) else { return true }
            for (i, route) in routes.enumerated() where m.seq >= progress[i].start && progress[i].status(of: m.seq) == nil
                && route.match.matches(m.message) {
                out[i].pending += 1
                if out[i].oldestSeq == nil {
                    out[i].oldestSeq = m.seq
                    out[i].oldestAgeSeconds = max(0, Double(m.ageMicros(at: now)) / 1e6)
                    found += 1
                }
            }
            return !(oldestOnly && found == routes.count)
        }
        return Dictionary(zip(routes.map(\.name), out)) { a, _ in a }
    }
}

extension OutboxReader {
    /// For a running relay of several routes: each route whose sink is unreachable, with how long ago
    /// its oldest pending message was created (nil: it has none pending). Nil without such a relay.
    package func unreachableRoutes(now: ClockReading = OutboxClock.system.now()) throws -> [(name: String, oldestAgeSeconds: Double?)]? {
        guard let status = RelayStatusFile.read(in: directory, holder: FileLock.holder(FileLock.relayLockName, in: directory)),
              !status.routes.isEmpty else { return nil }
        let down = status.routes.filter { !$0.sinkReachable }
        let backlogs = try routeBacklogs(down.map { ($0.name, $0.match) }, now: now, oldestOnly: true)
        return down.map { ($0.name, backlogs[$0.name]?.oldestAgeSeconds) }
    }
}
