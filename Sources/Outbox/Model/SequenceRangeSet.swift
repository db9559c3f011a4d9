/// A set of sequence numbers stored as sorted, disjoint, non-adjacent closed ranges.
///
/// Tombstones are kept this way: a relay that publishes in order leaves one range `1...n` however many
/// messages it finished, plus a few ranges above it for keys that ran ahead.
public struct SequenceRangeSet: Sendable, Equatable, CustomStringConvertible {
    public private(set) var ranges: [ClosedRange<UInt64>] = []

    public init() {}

    public init<S: Sequence>(_ seqs: S) where S.Element == UInt64 {
        for s in seqs { insert(s...s) }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    /// How many sequence numbers the set holds.
    public var count: UInt64 { ranges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound + 1) } }

    /// How many of the sequence numbers in `range` the set holds.
    public func count(in range: ClosedRange<UInt64>) -> UInt64 {
        var n: UInt64 = 0
        for r in ranges where r.overlaps(range) {
            n += min(r.upperBound, range.upperBound) - max(r.lowerBound, range.lowerBound) + 1
        }
        return n
    }

    /// The index of the first range whose upper bound is at least `seq`.
    private func firstIndex(notBelow seq: UInt64) -> Int {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < seq { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    public func contains(_ seq: UInt64) -> Bool {
        let i = firstIndex(notBelow: seq)
        return i < ranges.count && ranges[i].lowerBound <= seq
    }

    /// Whether every number of `range` is in the set.
    public func contains(_ range: ClosedRange<UInt64>) -> Bool {
        let i = firstIndex(notBelow: range.lowerBound)
        return i < ranges.count && ranges[i].lowerBound <= range.lowerBound && ranges[i].upperBound >= range.upperBound
    }

    /// The smallest number at least `seq` that is not in the set.
    public func firstMissing(from seq: UInt64) -> UInt64 {
        let i = firstIndex(notBelow: seq)
        if i < ranges.count && ranges[i].lowerBound <= seq { return ranges[i].upperBound &+ 1 }
        return seq
    }

    /// Adds every number of `range`, merging with overlapping and adjacent ranges.
    public mutating func insert(_ range: ClosedRange<UInt64>) {
        var lower = range.lowerBound, upper = range.upperBound
        // First range that could touch: upperBound >= lower - 1.
        var i = firstIndex(notBelow: lower == 0 ? 0 : lower - 1)
        let start = i
        while i < ranges.count && (upper == .max || ranges[i].lowerBound <= upper + 1) {
            lower = min(lower, ranges[i].lowerBound)
            upper = max(upper, ranges[i].upperBound)
            i += 1
        }
        ranges.replaceSubrange(start..<i, with: [lower...upper])
    }

    public mutating func insert(_ seq: UInt64) { insert(seq...seq) }

    /// The numbers of this set that `other` does not hold.
    public func subtracting(_ other: SequenceRangeSet) -> SequenceRangeSet {
        var out = SequenceRangeSet()
        for r in ranges {
            var start: UInt64? = r.lowerBound
            for o in other.ranges {
                guard let s = start else { break }
                if o.upperBound < s { continue }
                if o.lowerBound > r.upperBound { break }
                if o.lowerBound > s { out.insert(s...(o.lowerBound - 1)) }
                start = o.upperBound >= r.upperBound ? nil : o.upperBound + 1
            }
            if let s = start { out.insert(s...r.upperBound) }
        }
        return out
    }

    public mutating func formUnion(_ other: SequenceRangeSet) {
        for r in other.ranges { insert(r) }
    }

    public var description: String {
        "[" + ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",") + "]"
    }
}
