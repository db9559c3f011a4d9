import Foundation
import Synchronization

/// Writes `relay-status.json`, what `outbox stats` and `outbox check` in another process show: whether
/// the sinks are reachable (since when not), the last error, the last publish. Every route reports to
/// it (``route(_:)``); the file shows them together: reachable while every route's sink is, the
/// earliest time one went away, the latest publish. Advisory: a failure to write it is logged, not fatal.
final class RelayStatusWriter: Sendable {
    /// What one route reported.
    struct RouteState: Sendable {
        var reachable = true
        var error: String?
        var unreachableSinceMicros: Int64?
        var lastPublishMicros: Int64?
        var written: ContinuousClock.Instant?
        var writtenPublish: Int64?
    }

    private let env: RelayEnvironment
    private let pid = getpid()
    private let routes: Mutex<[String: RouteState]>
    /// What each route takes, written with its state (a reader counts each route's pending messages by it).
    private let matches: [String: RouteMatch]

    init(_ env: RelayEnvironment, routes: [(name: String, match: RouteMatch)]) {
        self.env = env
        self.routes = Mutex(Dictionary(uniqueKeysWithValues: routes.map { ($0.name, RouteState()) }))
        matches = Dictionary(routes.map { ($0.name, $0.match) }) { a, _ in a }
    }

    /// Route `name`'s sink is reachable, or not (with why, since the outage began).
    func report(route name: String, reachable: Bool, error: String?, outageSinceMicros: Int64?) async {
        routes.withLock { r in
            r[name, default: RouteState()].reachable = reachable
            r[name]?.error = error
            r[name]?.unreachableSinceMicros = reachable ? nil : outageSinceMicros
        }
        await write(route: name)
    }

    /// Route `name` published a batch at `time`: the first publish, then at most one every 5 s, reach the file.
    func published(route name: String, at time: Date) async {
        let due = routes.withLock { r -> Bool in
            r[name, default: RouteState()].lastPublishMicros = OutboxMessage.micros(time)
            guard let state = r[name] else { return false }
            return state.writtenPublish == nil || ContinuousClock.now - (state.written ?? .now) > .seconds(5)
        }
        if due { await write(route: name) }
    }

    private func write(route name: String) async {
        let status = routes.withLock { r -> RelayStatusFile in
            let last = r[name]?.lastPublishMicros
            r[name]?.written = .now
            r[name]?.writtenPublish = last
            let all = r.values
            let down = all.filter { !$0.reachable }
            var status = RelayStatusFile(pid: pid, state: "active", sinkReachable: down.isEmpty,
                                         lastError: down.isEmpty ? nil : down.compactMap(\.error).joined(separator: "; "),
                                         lastPublishMicros: all.compactMap(\.lastPublishMicros).max(),
                                         unreachableSinceMicros: down.compactMap(\.unreachableSinceMicros).min())
            if r.count > 1 {
                status.routes = r.sorted { $0.key < $1.key }.map { name, s in
                    RelayStatusFile.RouteState(name: name, sinkReachable: s.reachable, lastError: s.error,
                                               lastPublishMicros: s.lastPublishMicros, unreachableSinceMicros: s.unreachableSinceMicros,
                                               match: matches[name] ?? .all)
                }
            }
            return status
        }
        let directory = env.directory
        do { try await env.io.run { try status.write(in: directory) } } catch {
            env.logger.debug("cannot write the relay status file", metadata: ["error": "\(error)"])
        }
    }
}
