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

    var isStopping: Bool { stopping.get() }

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
