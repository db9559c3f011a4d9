/// Live before backlog (``OutboxRelayConfiguration/live``): a share of each lane for what was appended
/// after the route fell behind, so live traffic interleaves with a backlog being replayed.
///
/// **When.** Once the newest message a lane's reader took is older than ``within`` (the route is that far
/// behind: after an outage, a restart, or a link slower than the appends), the lane's later appends are
/// read by a second position of their own, from the end of the log at that moment. The two positions
/// meet again when the backlog is read through; a lane falls behind again only after that.
///
/// **What.** The live position takes the lane's key-less messages; a message with an ordering key stays
/// with the backlog, because its key's order must hold (it cannot pass its key's older messages still
/// waiting). Keep live data key-less, or in a lane of its own, where it must not wait.
///
/// **How much.** While both have messages ready, live gets ``share`` of the lane's bytes on the wire and
/// the backlog the rest; either takes the whole lane's share while the other has none ready.
///
/// **Marked.** Every message the route publishes more than ``within`` after it was created carries the
/// header ``delayedByHeader``: how late it is, in whole milliseconds, so consumers tell replayed from
/// live.
public struct LiveShare: Sendable, Equatable {
    /// How far behind a lane's reader may be before its new appends go as live; also the age past which a
    /// message is published with ``delayedByHeader``. More than 0 and at most a year.
    public var within: Duration
    /// Live's share of its lane while both have messages ready: more than 0 and less than 1. Default 0.5.
    public var share: Double

    public init(within: Duration, share: Double = 0.5) {
        self.within = within
        self.share = share
    }

    /// The header on a message published later than ``within`` after it was created: milliseconds late.
    public static let delayedByHeader = "outbox-delayed-by"

    /// Why this cannot be a route's live share, if it cannot.
    var problem: String? {
        guard within > .zero, within <= .seconds(365 * 86400) else { return "within must be more than 0 and at most a year, not \(within)" }
        guard share > 0, share < 1 else { return "share must be more than 0 and less than 1, not \(share)" }
        return nil
    }
}
