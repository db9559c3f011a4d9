/// What reaches a running relay from outside its loop: wake-ups (commits, inotify, the sink's word),
/// the stop request, the sink's reports of losing or regaining its connection; and the status it shows.
struct RelaySignals: Sendable {
    let wake = WakeSignal()
    let stopping = Shared(false)
    let status = Shared(RelayStatus.starting)
    /// Set when the sink says it is reachable again: the next probe is now.
    let probeNow = Shared(false)
    /// Why the sink said it lost its connection, until the relay's loop takes it (an outage begins).
    let connectionLost = Shared<String?>(nil)
    /// The followed files changed since the relay last looked, as the directory watch says (all of them
    /// at first); nil in ``watchedChanges`` when there is no watch: then every read looks at them all.
    let changed = Shared(DirectoryChanges.all)

    var isStopping: Bool { stopping.get() }

    /// The directory watch saw `changes`: noted, and the relay woken.
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

    /// Records a change the sink reports, and wakes the relay.
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
}
