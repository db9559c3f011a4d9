/// Encodes sequence ranges into a tombstone frame body and back (FORMAT.md §5).
///
/// The body is `count` pairs of unsigned LEB128 varints, one pair a range in increasing order:
/// `start - previousEnd` (previousEnd is 0 before the first range; the delta is at least 1, and at least
/// 2 after the first range, since ranges are disjoint and never adjacent) and `end - start`.
package enum TombstoneCodec {
    package static func encode(_ ranges: ArraySlice<ClosedRange<UInt64>>) -> [UInt8] {
        var w = ByteWriter(capacity: ranges.count * 4)
        var previousEnd: UInt64 = 0
        for r in ranges {
            w.varint(r.lowerBound - previousEnd)
            w.varint(r.upperBound - r.lowerBound)
            previousEnd = r.upperBound
        }
        return w.bytes
    }

    /// Decodes exactly `count` ranges filling `body`; the first must start at `first`.
    package static func decode(_ body: [UInt8], count: Int, first: UInt64) throws(DecodeError) -> [ClosedRange<UInt64>] {
        var r = ByteReader(body)
        var out: [ClosedRange<UInt64>] = []
        out.reserveCapacity(min(count, body.count / 2))
        var previousEnd: UInt64 = 0
        for i in 0..<count {
            let at = r.index
            let delta = try r.varint("range start delta")
            let span = try r.varint("range length")
            guard delta >= (i == 0 ? 1 : 2) else { throw DecodeError("range \(i) overlaps or touches the previous one", at: at) }
            let (start, o1) = previousEnd.addingReportingOverflow(delta)
            let (end, o2) = start.addingReportingOverflow(span)
            guard !o1, !o2 else { throw DecodeError("range \(i) overflows 64 bits", at: at) }
            if i == 0 && start != first { throw DecodeError("first range starts at \(start), the frame header says \(first)", at: at) }
            out.append(start...end)
            previousEnd = end
        }
        guard r.remaining == 0 else { throw DecodeError("\(r.remaining) bytes left after the last range", at: r.index) }
        return out
    }

    /// The frames that record `set` as ranges of `kind` (published, dead, redriven, redrive requested),
    /// each body at most `maxBody` bytes, laid out one after another from byte `offset` of the file of
    /// `identity`: the one writer of range frames (FORMAT.md §5). They are part of a write whose tag is
    /// `tag` (FORMAT.md §3).
    static func frames(_ set: SequenceRangeSet, kind: FrameKind, maxBody: Int, identity: FileIdentity, offset: Int64, tag: UInt16) -> [UInt8] {
        var bytes: [UInt8] = []
        for chunk in chunks(set.ranges, maxBody: maxBody) {
            bytes += FrameHeader.frame(kind: kind, first: chunk.first!.lowerBound, count: UInt32(chunk.count), body: encode(chunk),
                                       identity: identity, offset: offset + Int64(bytes.count), tag: tag)
        }
        return bytes
    }

    /// Splits `ranges` into frame bodies of at most `maxBody` bytes each.
    static func chunks(_ ranges: [ClosedRange<UInt64>], maxBody: Int) -> [ArraySlice<ClosedRange<UInt64>>] {
        let perFrame = max(1, maxBody / 20)
        return stride(from: 0, to: ranges.count, by: perFrame).map { ranges[$0..<min($0 + perFrame, ranges.count)] }
    }
}
