import Foundation

/// The second read position of each lane of a route with ``OutboxRelayConfiguration/live``
/// (``LiveShare``): once a lane's reader is behind by more than `within`, the lane's later appends are
/// read from the end of the log by a position of their own, which takes the key-less ones; the lane's
/// first position (the backlog's) reads on and takes everything else. When the backlog's position reaches
/// the live one, the lane has one position again.
///
/// Nothing is taken twice or left out: past the boundary, the backlog takes a message only if it has a
/// key or lies at or past where the live position is, and the live position reads after the backlog's in
/// every read, so the two meet before the live one could take what the backlog took.
///
/// Touched only on the relay's blocking-I/O thread, one job at a time.
final class LiveReaders: @unchecked Sendable {
    /// A lane read by two positions: its live messages from `boundary` on.
    private struct Split {
        let boundary: UInt64
        let source: RouteLogSource
    }

    private let env: RelayEnvironment
    private let within: TimeInterval
    private let selections: [LaneSelection]
    private let names: [String]
    private let shared: [LaneSelection: SharedLogReader]
    private var splits: [Split?]
    /// When the newest message each lane's backlog position read was created.
    private var newest: [Date?]

    init(_ env: RelayEnvironment, live: LiveShare, lanes: LaneSchedule, shared: [LaneSelection: SharedLogReader]) {
        self.env = env
        within = live.within.seconds
        selections = lanes.selections
        names = lanes.lanes.map(\.lane.name)
        self.shared = shared
        splits = Array(repeating: nil, count: selections.count)
        newest = Array(repeating: nil, count: selections.count)
    }

    /// What lane `lane`'s backlog position may take of `messages`, which it just read (now at `position`);
    /// ends the lane's split when the backlog is read through to the live position, and begins one when the
    /// lane is behind: the newest message it read is older than `within` and the writer's durable mark says
    /// more is written.
    func backlogRead(lane: Int, _ messages: [StoredMessage], position: UInt64, now: Date) -> [StoredMessage] {
        var taken = messages
        if let split = splits[lane] {
            let live = split.source.position
            if messages.contains(where: { $0.seq >= split.boundary && $0.orderingKey == nil && $0.seq < live }) {
                taken = messages.filter { $0.seq < split.boundary || $0.orderingKey != nil || $0.seq >= live }
            }
            if position >= live { splits[lane] = nil }
        }
        if let last = messages.last { newest[lane] = last.message.createdAt }
        if splits[lane] == nil, let newest = newest[lane], now.timeIntervalSince(newest) > within {
            let mark = env.writerDurableThrough?() ?? DurableMarkFile.read(in: env.directory, outboxID: env.outboxID)
            if mark >= position {
                let boundary = mark + 1
                splits[lane] = Split(boundary: boundary,
                                     source: RouteLogSource(env, from: boundary, lanes: selections[lane], shared: shared[selections[lane]]))
                env.logger.info("a lane is behind: its new key-less messages go as live", metadata: [
                    "lane": "\(names[lane])", "from": "\(boundary)", "behindSeconds": "\(Int(now.timeIntervalSince(newest)))"])
            }
        }
        return taken
    }

    /// Up to `room` of lane `lane`'s live messages (key-less, from its boundary on), and the hole numbers
    /// its live position met; nothing while the lane has one position.
    func read(lane: Int, room: (count: Int, bytes: Int)) throws -> ([StoredMessage], SequenceRangeSet) {
        guard let split = splits[lane] else { return ([], SequenceRangeSet()) }
        guard room.count > 0, room.bytes > 0 else { return ([], split.source.takeHoles()) }
        let (messages, holes) = try split.source.read(limit: room.count, maxBytes: room.bytes)
        return (messages.contains { $0.orderingKey != nil } ? messages.filter { $0.orderingKey == nil } : messages, holes)
    }
}
