/// What ``FullPolicy/dropOldest`` drops next when the outbox has lanes (FORMAT.md §1b, *drop by lane*):
/// the oldest messages of the lowest lane first, `bulk`, then `normal` and the named lanes, then
/// `critical`, so that no `critical` message is dropped while a message of a lower lane in a sealed
/// segment is kept.
///
/// The oldest sealed segment, when every commit of it is of the lanes being dropped, goes whole, as
/// without lanes. Any other is **rewritten** without the commits being dropped: the same
/// header, its kept frames (bodies unchanged, headers at their new offsets), a hole frame (§4a) in place
/// of each run of dropped numbers, and a seal; written whole to a temporary file, fsynced, renamed over
/// the segment, the directory fsynced. A commit of several lanes is dropped with the highest of them.
enum LaneDrop {
    /// What to do with one sealed segment.
    enum Step {
        /// Drop it whole: the numbers `base ... end - 1`.
        case whole(name: String, numbers: ClosedRange<UInt64>)
        /// Rewrite it as `contents`, the numbers `dropped` gone.
        case rewrite(name: String, contents: [UInt8], dropped: SequenceRangeSet)
    }

    /// The rank of a lane: the lower, the sooner dropped.
    static func rank(_ lane: String) -> Int {
        lane == OutboxLane.bulk.name ? 0 : lane == OutboxLane.critical.name ? 2 : 1
    }

    /// The next step, among the sealed `segments` (each with the base of the one after it), or nil when
    /// none holds a message to drop.
    static func next(_ segments: [(name: String, base: UInt64, end: UInt64)], in directory: OutboxDirectory) throws -> Step? {
        // Each segment's frames, read once per call, when needed.
        var read: [String: (segment: SegmentFile, frames: [(frame: Frame, rank: Int?)])] = [:]
        func frames(of s: (name: String, base: UInt64, end: UInt64)) throws -> (segment: SegmentFile, frames: [(frame: Frame, rank: Int?)]) {
            if let r = read[s.name] { return r }
            let segment = try SegmentFile.open(s.name, base: s.base, in: directory)
            var frames: [(frame: Frame, rank: Int?)] = []
            try segment.scanner.walk(tail: .refuse) { frame in
                frames.append((frame, rank(of: frame)))
                return true
            }
            read[s.name] = (segment, frames)
            return (segment, frames)
        }
        for dropRank in 0...2 {
            for (i, s) in segments.enumerated() {
                // The seal says which lanes a segment may hold: one with none of this rank is not read. The
                // oldest always is: it may go whole, holes of earlier drops and all. Only the oldest can go
                // whole: any other leaves holes in its place, so that the numbers still follow from segment
                // to segment (FORMAT.md §3).
                if i > 0, read[s.name] == nil, let seal = try SegmentFile.open(s.name, base: s.base, in: directory).scanner.sealAtEnd(),
                   !mayHold(rank: dropRank, filter: seal.lanes) { continue }
                let (segment, all) = try frames(of: s)
                let messageFrames = all.filter { $0.rank != nil }
                if i == 0, messageFrames.allSatisfy({ $0.rank! <= dropRank }) { return .whole(name: s.name, numbers: s.base...(s.end - 1)) }
                guard messageFrames.contains(where: { $0.rank! <= dropRank }) else { continue }
                return try rewrite(segment, frames: all, dropRank: dropRank, end: s.end)
            }
        }
        return nil
    }

    /// Whether a segment whose seal's lane filter is `filter` may hold a lane of `rank`.
    private static func mayHold(rank: Int, filter: UInt64?) -> Bool {
        let bits = filter ?? LaneSummary.normalBit
        let (bulk, critical) = (LaneSummary.filterBit(OutboxLane.bulk.name), LaneSummary.filterBit(OutboxLane.critical.name))
        switch rank {
        case 0: return bits & bulk != 0
        case 2: return bits & critical != 0
        default: return bits != 0  // a named lane may share any bit, bulk's and critical's too
        }
    }

    /// The rank a message frame is dropped at (its highest lane's), or nil for a frame without messages.
    private static func rank(of frame: Frame) -> Int? {
        switch frame.header.kind {
        case .messages: return rank(OutboxLane.normal.name)
        case .laneMessages: return ((try? LaneSummary.decode(frame.body))?.lanes.map(rank).max()) ?? 2
        default: return nil
        }
    }

    /// `segment` without its message frames of rank `dropRank` or lower.
    private static func rewrite(_ segment: SegmentFile, frames: [(frame: Frame, rank: Int?)], dropRank: Int, end: UInt64) throws -> Step {
        let header = segment.header
        let identity = FileIdentity(outboxID: header.outboxID, base: header.base)
        // A kept frame of an encrypted segment is sealed again for its new offset (FORMAT.md §10).
        let epoch = UInt64.random(in: 0...UInt64.max)
        func place(_ at: Int64) -> Envelope.Place {
            Envelope.Place(outboxID: header.outboxID, kind: .segment, base: header.base, offset: at, file: segment.file.path)
        }
        let tag = FrameHeader.writeTag(start: Int64(FileHeader.size), version: header.version)
        var out = header.encode()
        var written: [[UInt8]] = []
        var dropped = SequenceRangeSet()
        var run: ClosedRange<UInt64>?
        func flushRun() {
            guard let r = run else { return }
            for hole in SegmentSalvage.holeFrames(r, identity: identity, offset: Int64(out.count), note: "", tag: tag, reason: droppedReason) {
                out += hole
                written.append(hole)
            }
            run = nil
        }
        for (frame, rank) in frames {
            let numbers = frame.header.first...(frame.header.first + UInt64(frame.header.count) - 1)
            if let rank, rank <= dropRank {
                dropped.insert(numbers)
                run = run.map { $0.lowerBound...numbers.upperBound } ?? numbers
                continue
            }
            flushRun()
            let bytes = try Envelope.reframe(frame, from: place(frame.offset), to: place(Int64(out.count)), encrypted: header.encrypted,
                                             tag: tag, keys: segment.keys, epoch: epoch)
            out += bytes
            written.append(bytes)
        }
        flushRun()
        if let seal = SegmentSalvage.seal(written, end: end, version: header.version, identity: identity) { out += seal }
        return .rewrite(name: segment.name, contents: out, dropped: dropped)
    }

    /// The reason a hole left by a drop gives.
    static let droppedReason = "dropped (drop-oldest)"
}
