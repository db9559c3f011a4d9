/// What reaches a running relay from outside its loops: the stop request, the status it shows, and each
/// route's signals (``RouteSignals``).
struct RelaySignals: Sendable {
    let stopping = Shared(false)
    let status = Shared(RelayStatus.starting)
    /// One per route, in the order of the relay's routes.
    let routes: [RouteSignals]
    /// Wakes the relay's own loop (standby, compaction, the sweep).
    let wake = WakeSignal()

    init(routes: Int) { self.routes = (0..<routes).map { _ in RouteSignals() } }

    var isStopping: Bool { stopping.get() }

    /// Wakes every loop (a commit, a stop).
    func wakeAll() {
        for r in routes { r.wake.signal() }
        wake.signal()
    }

    /// The relay's status from its routes' (while it is active): misconfigured while a route's sink refuses
    /// its configuration, else active, with the sink reachable while every route's is.
    func refreshStatus() {
        status.mutate { s in
            switch s {
            case .active, .misconfigured:
                if let why = routes.lazy.compactMap({ $0.misconfigured.get() }).first {
                    s = .misconfigured(why)
                } else {
                    s = .active(sinkReachable: routes.allSatisfy { $0.reachable.get() })
                }
            default: break
            }
        }
    }

    /// The directory watch saw `changes`: every route is told.
    func filesChanged(_ changes: DirectoryChanges) {
        for r in routes { r.filesChanged(changes) }
        if changes.contains(.segments) { wake.signal() }
    }
}
