import Foundation
import Logging

/// What one read of the outbox found for the queue.
struct RelayRead {
    /// New durable messages in sequence order, without the finished and dropped ones.
    var fresh: [StoredMessage] = []
    /// The same, of the lanes' live positions (``LiveReaders``): key-less messages, each lane's in order.
    var live: [StoredMessage] = []
    /// Every number the writer dropped (drop-oldest), when that changed since the last read: the queue
    /// lets go of them, even if read already.
    var dropped: SequenceRangeSet?
    /// The dead-letter file's size now (redrive requests are listed when it changed); nil when it was
    /// not looked at (the directory watch says it did not change).
    var deadLetterSize: Int64?
}

/// The relay's reading side: follows the log from the first unfinished number (``LogTail``), each of the
/// route's lanes by its own position (``LaneSchedule/selections``: a `critical` message is read without
/// reading the backlog of other lanes), skips what is finished or dropped, tombstones numbers lost to
/// damage as dead, and with ``DamagePolicy/quarantine`` sets a damaged sealed segment aside and reads on
/// (the tail's reporter is a ``SegmentQuarantine``).
final class RelayReadSide {
    private let env: RelayEnvironment
    /// One per lane, in the order of the route's ``LaneSchedule``.
    private let sources: [RouteLogSource]
    /// Each lane's second position, with ``OutboxRelayConfiguration/live``.
    private let live: LiveReaders?
    /// The numbers the writer dropped, read again whenever `dropped.log` changed size.
    private var dropped = SequenceRangeSet()
    private var droppedSize: Int64 = 0

    /// What the directory watch says changed; nil without a watch (every read looks at every file).
    private let changes: RouteSignals?

    /// - Parameter shared: the relay's one reading of the log of each lane selection, when it has several routes.
    init(_ env: RelayEnvironment, from start: UInt64, changes: RouteSignals?, shared: [LaneSelection: SharedLogReader] = [:]) {
        self.env = env
        self.changes = changes
        let lanes = LaneSchedule(env.configuration.lanes)
        sources = lanes.selections.map { RouteLogSource(env, from: start, lanes: $0, shared: shared[$0]) }
        live = env.configuration.live.map { LiveReaders(env, live: $0, lanes: lanes, shared: shared) }
    }

    /// A tail of the log of `lanes` from `start`, quarantining damaged sealed segments with
    /// ``DamagePolicy/quarantine``.
    static func tail(_ env: RelayEnvironment, from start: UInt64, lanes: LaneSelection) -> LogTail {
        let quarantine = env.configuration.onDamage == .quarantine
            ? SegmentQuarantine(env.directory, scope: .sealedOnly, logger: env.logger) : nil
        let tail = LogTail(directory: env.directory, outboxID: env.outboxID, from: start, reporter: quarantine?.reporter ?? .refuse)
        tail.durableThrough = env.writerDurableThrough
        tail.lanes = lanes
        return tail
    }

    /// The next number the route will read, lane by lane (in the order of its ``LaneSchedule``).
    var positions: [UInt64] { sources.map(\.position) }
    /// The next number the route will read in the lane furthest behind: everything below it was read.
    var nextSeq: UInt64 { sources.lazy.map(\.position).min()! }

    /// `dropped.log` is read again at the next look, whatever its size (the sweep's fallback).
    func forgetDrops() { droppedSize = -1 }

    /// Reads, lane by lane, up to `room[i]` messages and bytes of class `i` (``LaneSchedule/classes``: lane
    /// `i`'s backlog, and with live classes lane `i - lanes`'s live messages; none of a class whose room is
    /// spent; the drops and the dead-letter file are looked at anyway, when the directory watch says they
    /// changed), in one job on the I/O thread.
    func read(room: [(count: Int, bytes: Int)]) async throws -> RelayRead {
        let finished = env.finished
        let (env, sources, live) = (env, sources, live)
        let look = changes?.takeChanges() ?? .all
        let (read, size, droppedFileSize) = try await env.io.run {
            (try Self.read(sources, live: live, room: room),
             look.contains(.deadLetters) ? try DeadLetterLog.size(in: env.directory) : nil,
             look.contains(.dropped) ? (try? env.directory.openFile(FileNames.dropped, writable: false).size()) ?? 0 : nil)
        }
        let (fresh, liveFresh, holes) = read
        var found = RelayRead(deadLetterSize: size)
        // What the writer dropped to make room (drop-oldest) is never published, even if already read.
        if let droppedFileSize, droppedFileSize != droppedSize {
            droppedSize = droppedFileSize
            dropped = droppedFileSize == 0 ? SequenceRangeSet()
                : try await env.io.run { try DroppedLog.read(in: env.directory, outboxID: env.outboxID) }
            found.dropped = dropped
            env.metrics.dropped.record(dropped.count)
        }
        // What no route takes is finished for the outbox now, unrouted.
        let unmatched = env.tracker.unmatched(liveFresh.isEmpty ? fresh : fresh + liveFresh)
        if !unmatched.isEmpty {
            try await env.tombstones.acknowledge(unmatched, as: .unrouted)
            env.metrics.unrouted.increment(by: unmatched.count)
        }
        // Usually none is finished, dropped or another route's: then the read is passed on as it is, not copied.
        let match = env.match
        let skip = { [dropped] (m: StoredMessage) in finished.contains(m.seq) || dropped.contains(m.seq) || !match.matches(m.message) }
        found.fresh = fresh.contains(where: skip) ? fresh.filter { !skip($0) } : fresh
        found.live = liveFresh.filter { !skip($0) }
        // Numbers lost to damage (holes a repair or a quarantine wrote) are finished as dead, with no
        // dead letter: `dead-letters list` and `dump` show them as lost. A hole the writer left where it
        // dropped a lane's messages (drop-oldest, FORMAT.md §1b) is not: those numbers are in `dropped.log`
        // (written before the hole), read again here if this read has not seen them yet.
        var lost = holes.subtracting(finished).subtracting(dropped)
        if !lost.isEmpty {
            let now = try await env.io.run { try DroppedLog.read(in: env.directory, outboxID: env.outboxID) }
            if now != dropped {
                dropped = now
                found.dropped = now
                found.fresh.removeAll { now.contains($0.seq) }
                found.live.removeAll { now.contains($0.seq) }
            }
            lost = lost.subtracting(dropped)
        }
        if !lost.isEmpty {
            try await env.tombstones.acknowledge(lost.ranges.lazy.flatMap { $0 }, as: .dead)
            env.logger.warning("sequence numbers lost to damage are tombstoned as lost", metadata: ["seqs": "\(lost)"])
        }
        return found
    }

    /// What every lane's source read (each within its room), what their live positions read, and the
    /// hole numbers they met. A lane's live position reads after its backlog's (``LiveReaders``).
    private static func read(_ sources: [RouteLogSource], live: LiveReaders?,
                             room: [(count: Int, bytes: Int)]) throws -> ([StoredMessage], [StoredMessage], SequenceRangeSet) {
        var (fresh, liveFresh) = ([StoredMessage](), [StoredMessage]())
        var holes = SequenceRangeSet()
        let now = Date()
        for (lane, source) in sources.enumerated() {
            let room0 = room[lane]
            var (messages, met) = room0.count > 0 && room0.bytes > 0 ? try source.read(limit: room0.count, maxBytes: room0.bytes) : ([], source.takeHoles())
            holes.formUnion(met)
            if let live {
                messages = live.backlogRead(lane: lane, messages, position: source.position, now: now)
                let (found, liveHoles) = try live.read(lane: lane, room: room[sources.count + lane])
                liveFresh += found
                holes.formUnion(liveHoles)
            }
            if fresh.isEmpty { fresh = messages } else { fresh += messages }
        }
        return (fresh, liveFresh, holes)
    }
}

/// Where one route reads the log: the relay's shared reading while the route is within its window, else
/// a tail of its own (a relay of one route, or a route that fell behind). With
/// ``DamagePolicy/quarantine``, damage in a sealed segment is quarantined (``SegmentQuarantine``, the
/// tail's reporter) and the read goes on with what it still holds; damage in the active segment is still
/// an error. Touched only on the relay's blocking-I/O thread, one job at a time.
final class RouteLogSource: @unchecked Sendable {
    private let env: RelayEnvironment
    private let shared: SharedLogReader?
    private let lanes: LaneSelection
    private var own: LogTail?
    /// The next number the route reads.
    private(set) var position: UInt64
    private var holes = SequenceRangeSet()

    init(_ env: RelayEnvironment, from start: UInt64, lanes: LaneSelection, shared: SharedLogReader?) {
        self.env = env
        self.shared = shared
        self.lanes = lanes
        position = start
        if shared == nil { own = RelayReadSide.tail(env, from: start, lanes: lanes) }
    }

    /// Up to `limit` new messages (about `maxBytes`), and the hole numbers read since the last call.
    func read(limit: Int, maxBytes: Int) throws -> ([StoredMessage], SequenceRangeSet) {
        var messages: [StoredMessage]
        if let shared, let found = try shared.read(from: position, limit: limit, maxBytes: maxBytes) {
            own = nil  // within the shared window (again)
            (messages, position) = (found.messages, found.next)
            holes.formUnion(found.holes)
        } else {
            let tail = own ?? RelayReadSide.tail(env, from: position, lanes: lanes)
            own = tail
            messages = try SharedLogReader.read(tail, limit: limit, maxBytes: maxBytes)
            position = tail.nextSeq
            holes.formUnion(tail.takeHoles())
        }
        return (messages, takeHoles())
    }

    /// The hole numbers read since the last call.
    func takeHoles() -> SequenceRangeSet {
        defer { holes = SequenceRangeSet() }
        return holes
    }
}
