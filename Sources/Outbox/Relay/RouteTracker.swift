import Synchronization

/// A message a route finished, as the tracker weighs it: its number and what it says (a stored message,
/// or a dead letter). Generic rather than a tuple, so that no message is copied on the way.
protocol FinishedMessage {
    var seq: UInt64 { get }
    var message: OutboxMessage { get }
}

extension StoredMessage: FinishedMessage {}
extension DeadLetter: FinishedMessage {}

/// Decides when a message is finished for the whole outbox: once every route that matches it is done
/// with it (FORMAT.md §5c). Every route's loop tells it what its route finished; it answers with what the
/// outbox is now done with, and by which status: published when every such route published it, else
/// dead when one dead-lettered it, else expired; unrouted when no route serves it. Each number is
/// answered once.
///
/// With one route, the route's progress is the outbox's: nothing is recorded per route and every
/// finish is the outbox's at once.
final class RouteTracker: Sendable {
    struct Route: Sendable {
        let name: String
        let match: RouteMatch
    }

    let routes: [Route]
    /// Each route's place in ``routes``.
    private let index: [String: Int]
    /// Whether each route keeps its own progress in the tombstone log (more than one route).
    let recordsRoutes: Bool
    /// Whether a route takes every message (then none is unrouted, and reads need not ask).
    private let someRouteTakesAll: Bool
    private let state: Mutex<State>

    private struct State {
        /// Each route's progress, in the order of ``routes`` (an array: weighing a message reads every
        /// route's in place, with no copy).
        var progress: [RouteProgress]
        /// Numbers answered already (the outbox's tombstone is written or being written).
        var answered = SequenceRangeSet()
        /// Numbers weighed with their message in this session and found waiting on a route: that route's
        /// finish (``finished(_:status:route:)``) answers them, so the settling pass never reads them again.
        var weighed = SequenceRangeSet()
    }

    init(routes: [Route], snapshot: TombstoneSnapshot) {
        self.routes = routes
        recordsRoutes = routes.count > 1
        someRouteTakesAll = routes.contains { $0.match.conditions.isEmpty }
        index = Dictionary(routes.enumerated().map { ($1.name, $0) }) { a, _ in a }
        state = Mutex(State(progress: routes.map { snapshot.routes[$0.name] ?? RouteProgress() }))
    }

    /// The routes that take `message`.
    func routes(taking message: OutboxMessage) -> [String] { routes.filter { $0.match.matches(message) }.map(\.name) }

    /// Route `route` is done with `messages` (`status`: published, dead or expired): returns what the
    /// outbox is now done with, by status.
    func finished<M: FinishedMessage>(_ messages: [M], status: MessageStatus, route: String) -> [MessageStatus: [UInt64]] {
        guard recordsRoutes else { return messages.isEmpty ? [:] : [status: messages.map(\.seq)] }
        let kind: FrameKind = status == .dead ? .dead : status == .expired ? .expired : .published
        return state.withLock { s in
            var out: [MessageStatus: [UInt64]] = [:]
            guard let r = index[route] else { return out }
            for m in messages {
                s.progress[r].insert(m.seq...m.seq, status: kind)
                guard let outcome = Self.outcome(m.seq, m.message, routes: routes, progress: s.progress) else {
                    s.weighed.insert(m.seq)
                    continue
                }
                if !s.answered.contains(m.seq) {
                    s.answered.insert(m.seq...m.seq)
                    out[outcome, default: []].append(m.seq)
                }
            }
            return out
        }
    }

    /// Of `messages`, those no route takes and not answered yet: the outbox is done with them, unrouted.
    func unmatched(_ messages: [StoredMessage]) -> [UInt64] {
        guard !someRouteTakesAll else { return [] }
        let none = messages.filter { m in !routes.contains { $0.match.matches(m.message) } }
        guard !none.isEmpty else { return [] }
        return state.withLock { s in
            none.compactMap { m in
                guard !s.answered.contains(m.seq) else { return nil }
                s.answered.insert(m.seq...m.seq)
                return m.seq
            }
        }
    }

    /// What the outbox is done with among `messages` (pending for the outbox, read again by the
    /// settling pass after a restart, or after a route was removed), by status. `covered` are the
    /// candidates the pass looked for (``candidates(besides:)``): those not answered now wait on a route,
    /// whose finish will answer them, and are not candidates again.
    func settle(_ messages: [StoredMessage], covered: SequenceRangeSet) -> [MessageStatus: [UInt64]] {
        state.withLock { s in
            var out: [MessageStatus: [UInt64]] = [:]
            for m in messages where !s.answered.contains(m.seq) {
                guard let outcome = Self.outcome(m.seq, m.message, routes: routes, progress: s.progress) else { continue }
                s.answered.insert(m.seq...m.seq)
                out[outcome, default: []].append(m.seq)
            }
            s.weighed.formUnion(covered.subtracting(s.answered))
            return out
        }
    }

    /// The numbers some route is done with that the outbox may not be (`finished`: what it is), and
    /// that no route's finish or settling pass of this session has weighed yet: after a start, what the
    /// routes finished before it; then, usually, nothing.
    func candidates(besides finished: SequenceRangeSet) -> SequenceRangeSet {
        state.withLock { s in
            var all = SequenceRangeSet()
            for p in s.progress { all.formUnion(p.done) }
            return all.subtracting(finished).subtracting(s.answered).subtracting(s.weighed)
        }
    }

    /// Lets go of what the outbox finished (it is in `finished` now): memory stays bounded.
    func prune(_ finished: SequenceRangeSet) {
        state.withLock { s in
            for i in s.progress.indices { s.progress[i] = s.progress[i].subtracting(finished) }
            s.answered = s.answered.subtracting(finished)
            s.weighed = s.weighed.subtracting(finished)
        }
    }

    /// Route `route` serves nothing below `start` any more (it read past it: what it took is finished,
    /// the rest it does not take).
    func advance(_ route: String, to start: UInt64) {
        state.withLock { s in
            if let r = index[route], start > s.progress[r].start { s.progress[r].start = start }
        }
    }

    /// The first number route `route` serves.
    func start(of route: String) -> UInt64 { index[route].map { r in state.withLock { $0.progress[r].start } } ?? 1 }

    /// The outbox's status for a message once every route that takes it is done; nil while one is not.
    private static func outcome(_ seq: UInt64, _ message: OutboxMessage, routes: [Route], progress: [RouteProgress]) -> MessageStatus? {
        var served = false, dead = false, expired = false
        for (i, r) in routes.enumerated() where r.match.matches(message) {
            switch progress[i].status(of: seq) {
            case .published?: served = true
            case .dead?:
                served = true
                dead = true
            case .expired?:
                served = true
                expired = true
            default:
                guard seq < progress[i].start else { return nil }  // not done yet
            }
        }
        return !served ? .unrouted : dead ? .dead : expired ? .expired : .published
    }
}
