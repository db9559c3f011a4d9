/// The creation times the relay publishes (FORMAT.md §4c): a message committed in this boot before the
/// wall clock was set (or jumped) gets the creation time its commit really had, and one whose time cannot
/// be known is marked.
enum PublishedTimes {
    /// The header that marks a message whose creation time may be wrong: its commit's wall clock was not
    /// synchronized, it was committed in an earlier boot (so no correction is known), and this machine's
    /// clock is synchronized now. Value `true`.
    static let uncertainHeader = "outbox-time-uncertain"

    /// `messages` with their creation times as they are published at `now`: moved by the jump of the wall
    /// clock since the commit when it was in this boot and the jump is a second or more; marked with
    /// ``uncertainHeader`` when it cannot be known. The stored messages do not change.
    static func correcting(_ messages: [StoredMessage], now: ClockReading) -> [StoredMessage] {
        guard messages.contains(where: { needsChange($0, now: now) }) else { return messages }
        return messages.map { m in
            guard needsChange(m, now: now), let commit = m.commitClock else { return m }
            var changed = m
            if let wall = commit.wallMicros(asOf: now) {
                changed.message.createdAtMicros &+= wall &- commit.wallMicros
            } else {
                changed.message.headers.append(.init(uncertainHeader, "true"))
            }
            return changed
        }
    }

    private static func needsChange(_ m: StoredMessage, now: ClockReading) -> Bool {
        guard let commit = m.commitClock else { return false }
        if let wall = commit.wallMicros(asOf: now) { return abs(wall &- commit.wallMicros) >= 1_000_000 }
        return !commit.wallSynchronized && now.wallSynchronized
    }
}
