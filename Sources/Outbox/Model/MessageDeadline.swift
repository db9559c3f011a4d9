/// When a message expires (FORMAT.md §4c): a span from its commit, measured by ``ClockReading/elapsed(since:)``
/// so that no jump of the wall clock moves it; for a message of a file without commit clocks (older than
/// format version 8), a wall-clock instant.
struct MessageDeadline: Sendable, Equatable {
    /// The commit's clock, if the message has one.
    let commit: ClockReading?
    /// The deadline as the wall clock read it, in microseconds since the Unix epoch.
    let wallMicros: Int64

    /// The message of `commit`'s deadline at `wallMicros` (its deliver-by header, or its creation time
    /// plus a default time to live: both read by the app's wall clock, the one the commit's clock
    /// recorded).
    init(wallMicros: Int64, commit: ClockReading?) {
        (self.wallMicros, self.commit) = (wallMicros, commit)
    }

    /// Whether the deadline has passed at `now`: the time elapsed since the commit reached the span from
    /// the commit's wall clock to the deadline (without a commit clock: the wall clock reached it).
    func passed(at now: ClockReading) -> Bool {
        guard let commit else { return now.wallMicros >= wallMicros }
        return now.elapsed(since: commit) >= wallMicros &- commit.wallMicros
    }
}
