/// What the listing walk of the segment chain finds, in file order (``SegmentChain/list(_:reference:_:)``).
enum ChainFinding {
    /// A segment begins: its raw walk (header, frames, damaged spans). A segment of another outbox
    /// (``RawFileReport/belongsToAnotherOutbox``) has no other finding, and the numbers after it start
    /// afresh.
    case segment(RawFileReport, base: UInt64, isLast: Bool, nextBase: UInt64?)
    /// A break in the numbers: at the segment's start (offset 32) or at a frame.
    case numbersBreak(SequenceContinuity.Problem)
    /// A frame holding numbers (seals are checked by the raw walk and not reported).
    case frame(FrameKind, count: UInt32)
    /// A damaged span; `atEnd` when nothing valid follows it in the file.
    case damage(offset: Int64, length: Int64, reason: String, canBeTorn: Bool, atEnd: Bool)
    /// The damaged span just reported held these numbers (the frame after it starts beyond them): one
    /// problem, not a damage and a gap.
    case damageHeld(ClosedRange<UInt64>)
    /// A sealed segment of version 4 on, sound otherwise, without its seal: bytes at its end were lost
    /// (FORMAT.md §3a; the same judgement as open's).
    case missingSeal(offset: Int64, reason: String)
    /// The segment's findings are all reported.
    case segmentDone
}

extension SegmentChain {
    /// `verify`'s walk: every segment in `segments`, without stopping at damage, each through the raw
    /// walk (``RawFileWalk``) against the outbox's `reference` id, the numbers followed across frames
    /// and segments by the same rule as every other walk. Findings go to `report`, in file order.
    mutating func list(_ segments: [(base: UInt64, name: String)], reference: OutboxID?, _ report: (ChainFinding) -> Void) throws {
        for (i, entry) in segments.enumerated() {
            let isLast = i == segments.count - 1
            let raw = try RawFileWalk.walk(entry.name, in: directory, reference: reference, validateBodies: true)
            report(.segment(raw, base: entry.base, isLast: isLast, nextBase: i + 1 < segments.count ? segments[i + 1].base : nil))
            if raw.belongsToAnotherOutbox {
                forget()
                report(.segmentDone)
                continue
            }
            var troubled = false
            if let p = continuity.segment(base: entry.base) {
                troubled = true
                report(.numbersBreak(p))
            }
            troubled = listEntries(raw, report) || troubled
            // A sealed segment of version 4 ends with its seal: without one, bytes at its end were lost, even
            // if no number was.
            if !isLast, !troubled, raw.headerProblem == nil, let version = raw.version, let problem = FrameContent.missingSeal(version),
               raw.entryKinds.compactMap({ $0 }).last != .seal {
                let end = raw.entries.reduce(Int64(FileHeader.size)) { end, entry in
                    if case .frame(let offset, let length, _, _, _) = entry { return offset + length }
                    return end
                }
                report(.missingSeal(offset: end, reason: problem))
            }
            report(.segmentDone)
        }
    }

    /// Reports one segment's frames and damaged spans; true when it found any damage or break.
    private mutating func listEntries(_ raw: RawFileReport, _ report: (ChainFinding) -> Void) -> Bool {
        var troubled = false
        var afterDamage = false
        for (j, item) in raw.entries.enumerated() {
            switch item {
            case .frame(let offset, _, _, let first, let count):
                guard let kind = raw.entryKinds[j], kind != .seal else { continue }
                if afterDamage, let next = continuity.next, first > next {
                    report(.damageHeld(next...(first - 1)))
                    continuity = SequenceContinuity(next: first)
                }
                if let p = continuity.frame(first: first, count: count, offset: offset) {
                    troubled = true
                    report(.numbersBreak(p))
                }
                report(.frame(kind, count: count))
                afterDamage = false
            case .damage(let offset, let length, let reason, _, let canBeTorn):
                troubled = true
                afterDamage = true
                report(.damage(offset: offset, length: length, reason: reason, canBeTorn: canBeTorn, atEnd: j == raw.entries.count - 1))
            }
        }
        return troubled
    }
}
