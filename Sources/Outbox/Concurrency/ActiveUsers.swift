/// The users of something that must finish before it closes (an outbox's in-process relays): each
/// enters with a way to ask it to stop, and leaves when it has; ``stopAll()`` asks every one (and every
/// later one at once), and ``waitUntilEmpty()`` returns when none is left.
package final class ActiveUsers: Sendable {
    private struct State {
        var next = 0
        var stops: [Int: @Sendable () -> Void] = [:]
        var stopping = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Shared(State())

    package init() {}

    /// Enters a user that `stop` asks to finish; returns its token for ``leave(_:)``. After
    /// ``stopAll()``, `stop` is called at once.
    package func enter(stop: @escaping @Sendable () -> Void) -> Int {
        var token = 0
        var stopping = false
        state.mutate { s in
            token = s.next
            s.next += 1
            s.stops[token] = stop
            stopping = s.stopping
        }
        if stopping { stop() }
        return token
    }

    /// The user of `token` has finished.
    package func leave(_ token: Int) {
        var waiters: [CheckedContinuation<Void, Never>] = []
        state.mutate { s in
            s.stops[token] = nil
            if s.stops.isEmpty { swap(&waiters, &s.waiters) }
        }
        for w in waiters { w.resume() }
    }

    /// How many users are in.
    package var count: Int {
        var n = 0
        state.mutate { n = $0.stops.count }
        return n
    }

    /// Asks every user, and every one that enters from now on, to stop.
    package func stopAll() {
        var stops: [@Sendable () -> Void] = []
        state.mutate { s in
            s.stopping = true
            stops = Array(s.stops.values)
        }
        for stop in stops { stop() }
    }

    /// Returns once no user is in.
    package func waitUntilEmpty() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            var empty = false
            state.mutate { s in
                if s.stops.isEmpty { empty = true } else { s.waiters.append(c) }
            }
            if empty { c.resume() }
        }
    }
}
