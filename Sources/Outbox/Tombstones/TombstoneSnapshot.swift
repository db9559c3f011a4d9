/// The finished sequence numbers of an outbox at one moment: published ones, dead-lettered ones and
/// expired ones.
public struct TombstoneSnapshot: Sendable, Equatable {
    /// Sequence numbers a sink confirmed.
    public var published = SequenceRangeSet()
    /// Sequence numbers given up on (dead-lettered).
    public var dead = SequenceRangeSet()
    /// Sequence numbers past their deliver-by deadline before a sink confirmed them (never published).
    public var expired = SequenceRangeSet()
    /// Sequence numbers the writer dropped to make room in a full disk budget (never published). Readers
    /// fill it in from `dropped.log`; a relay's own snapshot leaves it empty.
    public var dropped = SequenceRangeSet()

    public init() {}

    /// Published, dead, expired or dropped.
    public var finished: SequenceRangeSet {
        var all = published
        all.formUnion(dead)
        all.formUnion(expired)
        all.formUnion(dropped)
        return all
    }

    /// The status of `seq` (pending unless tombstoned).
    public func status(of seq: UInt64) -> MessageStatus {
        if published.contains(seq) { return .published }
        if dead.contains(seq) { return .dead }
        if expired.contains(seq) { return .expired }
        if dropped.contains(seq) { return .dropped }
        return .pending
    }

    /// Adds `range` to the set of `kind` (published, dead or expired).
    mutating func insert(_ range: ClosedRange<UInt64>, kind: FrameKind) {
        switch kind {
        case .dead: dead.insert(range)
        case .expired: expired.insert(range)
        default: published.insert(range)
        }
    }

    mutating func apply(_ ranges: [ClosedRange<UInt64>], kind: FrameKind) {
        for r in ranges {
            insert(r, kind: kind)
        }
    }
}
