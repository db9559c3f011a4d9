/// When the relay refreshes the gauges of the whole outbox (pending, the oldest's age, the bytes used):
/// at most every ``interval``, while idle and during outages too. A refresh asked for too soon is
/// remembered, and the relay's next wait ends when it is due, so the gauges follow the outbox a second
/// or two behind, not only at sweeps.
struct GaugeSchedule {
    let interval: Duration = .seconds(2)
    private var last: ContinuousClock.Instant?
    private var stale = false

    /// Whether a refresh is due now (and is then counted as done).
    mutating func due(now: ContinuousClock.Instant) -> Bool {
        if let last, now - last < interval {
            stale = true
            return false
        }
        last = now
        stale = false
        return true
    }

    /// How long the relay may wait before the refresh it skipped is due; nil when none was skipped.
    func wait(now: ContinuousClock.Instant) -> Duration? {
        guard stale, let last else { return nil }
        return max(.zero, interval - (now - last))
    }
}
