/// Follows an outbox's segments from a sequence number on, reading only what was added since the last
/// call, in sequence order.
///
/// **Only durable messages are returned:** inotify (and a concurrent reader) can see a frame as soon as
/// it is written, before the writer's `fdatasync` returned. After reading frames that may not be durable
/// yet, ``read(limit:maxBytes:)`` calls `fdatasync` on that segment itself; once it returns, everything
/// read from the file is on disk. It does so only when needed: a sealed segment (one the writer rolled
/// past) was fsynced before the next one was created; bytes below what an earlier `fdatasync` of this
/// tail covered are on disk; and messages at or below the writer's durable mark are durable by the
/// writer's word: ``durableThrough`` when the writer lives in this process, else the mark it keeps in
/// `writer.durable` (FORMAT.md §1c; read only when a frame may need it, 0 when there is none).
/// A frame not yet complete is not an error: the tail stops before it and picks it up on a later call.
///
/// **Lanes.** A tail of some lanes (``lanes``) returns only their messages, and reads no more of the
/// others than it must: it passes over a sealed segment whose seal says it holds none of them (FORMAT.md
/// §3a) without opening its frames, and over a durable frame of other lanes by its header and lane
/// summary alone (``FrameScanner/passOver``); a read passes over at most ``maxPassOverBytes`` before it
/// returns, so that one lane's read never holds the thread long.
package final class LogTail {
    let directory: OutboxDirectory
    let outboxID: OutboxID
    /// The last sequence number the writer made durable, when the writer is in this process.
    var durableThrough: (@Sendable () -> UInt64)?
    /// The lanes this tail follows (every lane by default).
    var lanes: LaneSelection = .all {
        didSet { takesNormal = lanes.contains(OutboxLane.normal.name) }
    }
    /// Whether ``lanes`` holds `normal` (every message of a kind-1 frame).
    private var takesNormal = true
    /// How many bytes of other lanes' frames one read passes over at most before it returns.
    static let maxPassOverBytes: Int64 = 8 << 20
    private var current: SegmentFile?
    /// The end of the last frame of ``current`` an `fdatasync` of this tail has covered.
    private var syncedThrough: Int64 = 0
    /// The next sequence number expected.
    private(set) var nextSeq: UInt64
    /// The walk of the segments: frames and segments follow each other without a gap or overlap; damage
    /// goes to its reporter.
    private var chain: SegmentChain
    /// The numbers of the hole frames read so far (lost to damage, FORMAT.md §4a), for the relay to
    /// tombstone as lost.
    private var holes = SequenceRangeSet()

    /// Starts over at `seq` with a fresh listing (after a read failed part-way and the segment was
    /// replaced by its salvaged copy: what that read had collected was not returned).
    func restart(from seq: UInt64) {
        current = nil
        syncedThrough = 0
        chain = SegmentChain(directory, outboxID: outboxID, reporter: chain.reporter)
        nextSeq = seq
        holes = SequenceRangeSet()
    }

    /// The hole numbers read since the last call.
    func takeHoles() -> SequenceRangeSet {
        defer { holes = SequenceRangeSet() }
        return holes
    }

    /// A tail of an outbox opened already.
    package convenience init(_ outbox: OpenedOutbox, from seq: UInt64, reporter: DamageReporter = .refuse) {
        self.init(directory: outbox.directory, outboxID: outbox.id, from: seq, reporter: reporter)
    }

    /// - Parameter reporter: what the walk does with damage (``DamageReporter/refuse`` by default; the
    ///   relay quarantines sealed segments, and then a read throws ``SegmentChain/Retry``).
    package init(directory: OutboxDirectory, outboxID: OutboxID, from seq: UInt64, reporter: DamageReporter = .refuse) {
        self.directory = directory
        self.outboxID = outboxID
        self.nextSeq = seq
        chain = SegmentChain(directory, outboxID: outboxID, reporter: reporter)
    }

    /// Up to `limit` new durable messages, in sequence order, stopping early once they take about
    /// `maxBytes` (see ``StoredMessage/footprint``; at least one message is returned), or once it passed
    /// over ``maxPassOverBytes`` of other lanes' frames.
    package func read(limit: Int, maxBytes: Int = .max) throws -> [StoredMessage] {
        var budget = Budget(limit: limit, maxBytes: maxBytes)
        var out: [StoredMessage] = []
        // The active segment, if frames read from it may not be durable yet, and where the last of them ends.
        var unsynced: (file: OutboxFile, readThrough: Int64)?
        while !budget.spent(out.count) {
            if current == nil {
                var passedOver = false
                current = try FileNames.withListing(directory) { listing in
                    let segments = listing.segments
                    guard !segments.isEmpty else { return nil }
                    // Messages below the first stored segment were compacted away (all finished).
                    if nextSeq < segments[0].base { nextSeq = segments[0].base }
                    guard let entry = segments.last(where: { $0.base <= nextSeq }) else { return nil }
                    let segment = try chain.enter(entry)
                    // A sealed segment holding none of this tail's lanes: passed over at its seal's word.
                    if segments.last!.base > entry.base, try passOver(segment) {
                        passedOver = true
                        return nil
                    }
                    return segment
                }
                syncedThrough = 0
                if passedOver { continue }
            }
            guard let segment = current else { break }
            try segment.scanner.refreshSize()
            // The writer's durable mark: its own word in this process, else `writer.durable`; asked for
            // only when a frame beyond what this tail synced was read, or to pass frames of other lanes over.
            var durable: UInt64?
            let mark = { [self] in
                let m = durable ?? durableThrough?() ?? DurableMarkFile.read(in: directory, outboxID: outboxID)
                durable = m
                return m
            }
            if lanes != .all {
                segment.scanner.passOver = lanes
                segment.scanner.passOverThrough = mark()
                if segment.scanner.offset == Int64(FileHeader.size) { segment.scanner.expectedFirst = segment.header.base }
            }
            var needsSync = false
            var readThrough: Int64 = 0
            try walk(segment, tail: .stop, budget: &budget, into: &out) { frame in
                if frame.end > syncedThrough, !needsSync, frame.header.first + UInt64(frame.header.count) - 1 > mark() { needsSync = true }
                readThrough = frame.end
            }
            if budget.spent(out.count) {
                // Stopped inside the segment: a listing (far cheaper than a sync) says whether it is sealed.
                if needsSync, !(try FileNames.list(directory).segments.contains { $0.base > segment.header.base }) {
                    unsynced = (segment.file, readThrough)
                }
                break
            }
            // At the end of this segment: move on only if the writer rolled past it.
            let segments = try FileNames.list(directory).segments
            guard let next = segments.first(where: { $0.base > segment.header.base }) else {
                if needsSync { unsynced = (segment.file, readThrough) }
                break
            }
            // Sealed now: the writer fsynced it before it made the next segment, so nothing read from it
            // needs a sync of ours. Whatever it holds was written before the roll; read it to its end, strictly.
            try segment.scanner.refreshSize()
            segment.scanner.passOverThrough = .max
            var rest = Budget(limit: .max, maxBytes: .max, maxPassOver: .max)
            try walk(segment, tail: .refuse, budget: &rest, into: &out) { _ in }
            try chain.leave(segment, sealed: true)
            try chain.expect(next)
            current = nil
        }
        if let (file, readThrough) = unsynced {
            try file.dataSync()
            // Every frame read is on disk now. (Not the file's size: the writer allocates space ahead and
            // writes later frames into it, which this sync did not cover.)
            if current?.file === file { syncedThrough = max(syncedThrough, readThrough) }
        }
        return out
    }

    /// What one read may still take: messages, their bytes, and bytes of other lanes passed over.
    private struct Budget {
        var limit: Int
        var maxBytes: Int
        var maxPassOver: Int64 = LogTail.maxPassOverBytes
        var bytes = 0
        var passedOver: Int64 = 0

        func spent(_ count: Int) -> Bool { count >= limit || bytes >= maxBytes || passedOver >= maxPassOver }
    }

    /// Whether `segment`, sealed, holds none of this tail's lanes by its seal (FORMAT.md §3a): then the
    /// chain takes it at its seal's word and the tail goes on at the next segment.
    private func passOver(_ segment: SegmentFile) throws -> Bool {
        guard lanes != .all, let seal = try segment.scanner.sealAtEnd(), seal.end > nextSeq, !lanes.mayBeIn(filter: seal.lanes),
              try chain.trustSeal(of: segment) else { return false }
        nextSeq = seal.end
        return true
    }

    private func walk(_ segment: SegmentFile, tail: RecoveryPolicy, budget: inout Budget,
                      into out: inout [StoredMessage], taking: (Frame) -> Void) throws {
        let (lanes, everyLane) = (lanes, lanes == .all)
        try chain.walk(segment, tail) { frame in
            let last = frame.header.first + UInt64(frame.header.count) - 1
            if last < nextSeq { return true }
            if frame.header.kind == .hole {
                taking(frame)
                holes.insert(max(frame.header.first, nextSeq)...last)
            }
            if everyLane || takesAny(frame) {
                // Taken: what is returned must be durable (the read's sync). A frame passed over needs no
                // sync: it is whole (checked, or at or below the durable mark), and only a power loss, which
                // this process does not outlive, could take it back.
                if frame.header.kind != .hole { taking(frame) }
                budget.bytes += try segment.messages(in: frame, from: nextSeq, lanes: lanes, into: &out)
            } else {
                budget.passedOver += Int64(FrameHeader.size) + Int64(frame.header.bodyLength)
            }
            nextSeq = last + 1
            return !budget.spent(out.count)
        }
    }

    /// Whether a frame may hold a message of this tail's lanes (a message frame that was not passed over,
    /// whose lanes are not all others').
    private func takesAny(_ frame: Frame) -> Bool {
        guard frame.header.kind.holdsMessages, frame.passedOver == nil else { return false }
        if frame.header.kind == .messages { return takesNormal }
        guard let summary = try? LaneSummary.decode(frame.body) else { return true }  // decoding it names the damage
        return lanes.takesAny(of: summary.lanes)
    }
}

#if canImport(Glibc)
import Glibc
#endif
