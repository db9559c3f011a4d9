/// The one rule for sequence numbers in the segments (FORMAT.md §3): the first frame of a segment starts
/// at the segment's base, every frame starts where the one before it ended, and every segment starts
/// where the one before it ended. Open, the readers, the relay's tail, `verify` and `repair` all check
/// it with this type, so they name the same gap or overlap for the same bytes.
struct SequenceContinuity {
    /// A break in the rule.
    struct Problem: Equatable, Sendable {
        enum Kind: Sendable {
            case gap, overlap
            /// A seal that disagrees with the frames before it.
            case badSeal
        }
        var kind: Kind
        /// Where the break is: a segment (`offset` 32, its base) or a frame (its offset).
        var offset: Int64
        var reason: String
    }

    /// The sequence number the next frame or segment must start at, once known.
    private(set) var next: UInt64?
    /// The frames of the current segment so far, when its start was seen.
    private var frames: UInt32?
    /// The lane filter of the current segment's frames so far, when its start was seen (FORMAT.md §3a).
    private var lanes: UInt64?

    init(next: UInt64? = nil) { self.next = next }

    /// A segment starts at `base`: a problem if the previous one did not end right before it.
    mutating func segment(base: UInt64) -> Problem? {
        defer {
            next = base
            frames = 0
            lanes = 0
        }
        guard let e = next, e != base else { return nil }
        return base > e
            ? Problem(kind: .gap, offset: 32, reason: "sequence gap: \(e)...\(base - 1) are missing (the previous segment ends at \(e - 1), this one starts at \(base))")
            : Problem(kind: .overlap, offset: 32, reason: "sequence overlap: this segment starts at \(base) but the previous one ends at \(e - 1)")
    }

    /// A frame at `offset` holds `first` and the `count - 1` numbers after it.
    /// `lanes` is its lane filter (``LaneSummary/filter(kind:body:)``), which the seal must cover.
    mutating func frame(first: UInt64, count: UInt32, offset: Int64, lanes filter: UInt64 = 0) -> Problem? {
        lanes = lanes.map { $0 | filter }
        defer {
            next = first &+ UInt64(count)
            frames = frames.map { $0 &+ 1 }
        }
        guard let e = next, e != first else { return nil }
        return first > e
            ? Problem(kind: .gap, offset: offset, reason: "sequence gap: \(e)...\(first - 1) are missing before this frame (it starts at \(first))")
            : Problem(kind: .overlap, offset: offset, reason: "sequence overlap: this frame starts at \(first) but \(first)...\(e - 1) were in the frames before it")
    }

    /// The segment's seal (FORMAT.md §3a): it must name where the frames before it ended and, when the
    /// whole segment was read, how many there were.
    func seal(_ seal: Seal) -> Problem? {
        if let e = next, e != seal.end {
            return Problem(kind: .badSeal, offset: seal.offset,
                           reason: "the segment's seal says its numbers end before \(seal.end), but its frames end before \(e)")
        }
        if let n = frames, n != seal.frames {
            return Problem(kind: .badSeal, offset: seal.offset, reason: "the segment's seal counts \(seal.frames) frames before it, but there are \(n)")
        }
        if let seen = lanes, let filter = seal.lanes, seen & ~filter != 0 {
            return Problem(kind: .badSeal, offset: seal.offset,
                           reason: "the segment's seal leaves out lanes its frames hold (lane filter \(hex(filter)), frames \(hex(seen)))")
        }
        return nil
    }

    /// A sealed segment checked by its seal alone (open, FORMAT.md §7): the next segment starts at its end.
    mutating func skip(to seal: Seal) {
        next = seal.end
        frames = nil
        lanes = nil
    }

    /// The previous segment is unknown (it was removed by compaction while being read).
    mutating func forget() {
        next = nil
        frames = nil
        lanes = nil
    }

    /// Throwing forms, naming the file.
    mutating func checkSegment(base: UInt64, path: String) throws {
        if let p = segment(base: base) { throw OutboxError(.corrupt, p.reason, path: path, offset: p.offset) }
    }

    func checkSeal(_ seal: Seal, path: String) throws {
        if let p = self.seal(seal) { throw OutboxError(.corrupt, p.reason, path: path, offset: p.offset) }
    }

    mutating func checkFrame(_ f: Frame, path: String) throws {
        if let p = frame(first: f.header.first, count: f.header.count, offset: f.offset, lanes: f.laneFilter) {
            throw OutboxError(.corrupt, p.reason, path: path, offset: p.offset)
        }
    }
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
