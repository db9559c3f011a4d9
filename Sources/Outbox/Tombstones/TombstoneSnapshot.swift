/// What one route of the relay has finished (FORMAT.md §5c), beside what the whole outbox has.
public struct RouteProgress: Sendable, Equatable {
    /// The first number the route serves: a route added "from now" does not serve what was appended
    /// before it.
    public var start: UInt64 = 1
    /// Numbers the route's sink confirmed.
    public var published = SequenceRangeSet()
    /// Numbers the route gave up on (dead-lettered).
    public var dead = SequenceRangeSet()
    /// Numbers past their deliver-by deadline before the route's sink confirmed them.
    public var expired = SequenceRangeSet()

    public init() {}

    /// Everything the route itself is done with: below its start, published, dead or expired.
    public var done: SequenceRangeSet {
        var all = published
        all.formUnion(dead)
        all.formUnion(expired)
        if start > 1 { all.insert(1...(start - 1)) }
        return all
    }

    /// The route's status of `seq`, if it finished it (published first, then dead, then expired).
    public func status(of seq: UInt64) -> MessageStatus? {
        if published.contains(seq) { return .published }
        if dead.contains(seq) { return .dead }
        if expired.contains(seq) { return .expired }
        return nil
    }

    mutating func insert(_ range: ClosedRange<UInt64>, status: FrameKind) {
        switch status {
        case .dead: dead.insert(range)
        case .expired: expired.insert(range)
        default: published.insert(range)
        }
    }

    /// Leaves out what `finished` (the whole outbox's) holds: checkpoints keep only what a route adds.
    func subtracting(_ finished: SequenceRangeSet) -> RouteProgress {
        var p = self
        p.published = published.subtracting(finished)
        p.dead = dead.subtracting(finished)
        p.expired = expired.subtracting(finished)
        return p
    }
}

/// The finished sequence numbers of an outbox at one moment: published ones, dead-lettered ones,
/// expired ones, unrouted ones (and dropped ones, from `dropped.log`); and what each route of the relay
/// finished on its own (``routes``).
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
    /// Sequence numbers that matched no route of the relay (never published).
    public var unrouted = SequenceRangeSet()
    /// What each route of the relay finished, by route name (empty for a relay of one sink, whose
    /// progress is the outbox's own).
    public var routes: [String: RouteProgress] = [:]

    public init() {}

    /// Published, dead, expired, unrouted or dropped: finished for every route.
    public var finished: SequenceRangeSet {
        var all = published
        all.formUnion(dead)
        all.formUnion(expired)
        all.formUnion(unrouted)
        all.formUnion(dropped)
        return all
    }

    /// What route `name` has no more to do with: what the whole outbox finished, and what the route did.
    public func finished(forRoute name: String) -> SequenceRangeSet {
        var all = finished
        if let route = routes[name] { all.formUnion(route.done) }
        return all
    }

    /// The status of `seq` (pending unless tombstoned).
    public func status(of seq: UInt64) -> MessageStatus {
        if published.contains(seq) { return .published }
        if dead.contains(seq) { return .dead }
        if expired.contains(seq) { return .expired }
        if unrouted.contains(seq) { return .unrouted }
        if dropped.contains(seq) { return .dropped }
        return .pending
    }

    /// The status of `seq` for route `name`: what the route recorded for it (kept until the outbox
    /// finished it and a checkpoint let the route's record go), else the outbox's; pending there and
    /// below the route's start reads as unrouted (the route never served it).
    public func status(of seq: UInt64, route name: String) -> MessageStatus {
        if let own = routes[name]?.status(of: seq) { return own }
        let overall = status(of: seq)
        guard overall == .pending, let route = routes[name] else { return overall }
        return seq < route.start ? .unrouted : .pending
    }

    /// Adds `range` to the set of `kind` (published, dead, expired or unrouted).
    mutating func insert(_ range: ClosedRange<UInt64>, kind: FrameKind) {
        switch kind {
        case .dead: dead.insert(range)
        case .expired: expired.insert(range)
        case .unrouted: unrouted.insert(range)
        default: published.insert(range)
        }
    }

    mutating func apply(_ ranges: [ClosedRange<UInt64>], kind: FrameKind) {
        for r in ranges {
            insert(r, kind: kind)
        }
    }

    /// Adds what a frame of a tombstone file records (its body checked already: one that does not
    /// decode adds nothing).
    mutating func apply(_ frame: Frame) {
        let (first, count) = (frame.header.first, Int(frame.header.count))
        switch frame.header.kind {
        case .routeRanges:
            guard let (route, status, ranges) = try? RouteTombstoneCodec.decodeRanges(frame.body, count: count, first: first) else { return }
            for r in ranges { routes[route, default: RouteProgress()].insert(r, status: status) }
        case .routeStart:
            guard let route = try? RouteTombstoneCodec.decodeStart(frame.body) else { return }
            routes[route, default: RouteProgress()].start = first
        default:
            apply((try? TombstoneCodec.decode(frame.body, count: count, first: first)) ?? [], kind: frame.header.kind)
        }
    }
}
