/// What reaches one route's loop from outside: wake-ups (commits, inotify), its sink's reports of
/// losing or regaining its connection, and which followed files changed.
final class RouteSignals: Sendable {
    let wake = WakeSignal()
    /// Set when the sink says it is reachable again: the next probe is now.
    let probeNow = Shared(false)
    /// Why the sink said it lost its connection, until the route's loop takes it (an outage begins).
    let connectionLost = Shared<String?>(nil)
    /// Whether the route's sink is reachable, as the route last found (``RelaySignals/refreshStatus()``).
    let reachable = Shared(true)
    /// Why the route's sink refuses its configuration, while it does.
    let misconfigured = Shared<String?>(nil)
    /// The followed files changed since the route last looked, as the directory watch says (all of them
    /// at first).
    private let changed = Shared(DirectoryChanges.all)

    /// Records a change the sink reports, and wakes the route.
    func sinkReported(_ change: SinkAvailability) {
        switch change {
        case .available:
            connectionLost.set(nil)
            probeNow.set(true)
        case .unavailable(let why):
            connectionLost.set(why)
        }
        wake.signal()
    }

    /// The directory watch saw `changes` (or the sweep asks to look again): noted, and the route woken.
    func filesChanged(_ changes: DirectoryChanges) {
        changed.mutate { $0.formUnion(changes) }
        wake.signal()
    }

    /// What changed since the last call (cleared before the caller looks at the files, so that a change
    /// made while it looks is seen by the next call).
    func takeChanges() -> DirectoryChanges {
        var taken: DirectoryChanges = []
        changed.mutate { c in
            taken = c
            c = []
        }
        return taken
    }
}
