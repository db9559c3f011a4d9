/// The finished sequence numbers of an outbox at one moment: published ones and dead-lettered ones.
public struct TombstoneSnapshot: Sendable, Equatable {
    /// Sequence numbers a sink confirmed.
    public var published = SequenceRangeSet()
    /// Sequence numbers given up on (dead-lettered).
    public var dead = SequenceRangeSet()

    public init() {}

    /// Published or dead.
    public var finished: SequenceRangeSet {
        var all = published
        all.formUnion(dead)
        return all
    }

    /// The status of `seq` (pending unless tombstoned).
    public func status(of seq: UInt64) -> MessageStatus {
        if published.contains(seq) { return .published }
        if dead.contains(seq) { return .dead }
        return .pending
    }

    mutating func apply(_ ranges: [ClosedRange<UInt64>], kind: FrameKind) {
        for r in ranges {
            if kind == .dead { dead.insert(r) } else { published.insert(r) }
        }
    }
}
