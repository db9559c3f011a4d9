/// The relay's one reading of the log when it has several routes: the log is read and decoded once, and
/// every route takes what it needs from a window of the messages read last, at its own position. A route
/// that falls behind the window (a long outage) reads on its own until it catches up.
///
/// Touched only on the relay's blocking-I/O thread (``RelayEnvironment/io``), one job at a time.
final class SharedLogReader: @unchecked Sendable {
    private let tail: LogTail
    /// The messages read last, in sequence order, from ``head`` on.
    private var window: [StoredMessage] = []
    private var head = 0
    private var windowBytes = 0
    /// Every number from here to the tail's next one was read into the window (or is a hole).
    private(set) var windowStart: UInt64
    private let capacity: Int
    private let capacityBytes: Int

    init(tail: LogTail, capacity: Int, capacityBytes: Int) {
        self.tail = tail
        windowStart = tail.nextSeq
        self.capacity = capacity
        self.capacityBytes = capacityBytes
    }

    /// Up to `limit` messages (about `maxBytes`) from `position` on, the next position, and the hole
    /// numbers read meanwhile; nil when `position` is below the window (the route reads on its own).
    func read(from position: UInt64, limit: Int, maxBytes: Int) throws -> (messages: [StoredMessage], next: UInt64, holes: SequenceRangeSet)? {
        guard position >= windowStart else { return nil }
        var holes = SequenceRangeSet()
        // At (or past) the end of the window: read on, for every route.
        while position >= tail.nextSeq {
            let before = tail.nextSeq
            let fresh = try Self.read(tail, limit: max(limit, 1000), maxBytes: max(maxBytes, 1 << 20))
            holes.formUnion(tail.takeHoles())
            guard !fresh.isEmpty || tail.nextSeq > before else { return ([], position, holes) }  // nothing new yet
            append(fresh, keepingFrom: position)
        }
        var i = firstIndex(atLeast: position)
        var out: [StoredMessage] = []
        var bytes = 0
        while i < window.count, out.count < limit, bytes < maxBytes {
            out.append(window[i])
            bytes += window[i].footprint
            i += 1
        }
        let next = i < window.count ? window[i].seq : tail.nextSeq
        return (out, next, holes)
    }

    private func append(_ fresh: [StoredMessage], keepingFrom position: UInt64) {
        window.append(contentsOf: fresh)
        for m in fresh { windowBytes += m.footprint }
        // Evicted from the front, never what the route asking now still needs.
        while window.count - head > capacity || windowBytes > capacityBytes, head < window.count, window[head].seq < position {
            windowBytes -= window[head].footprint
            windowStart = window[head].seq + 1
            head += 1
        }
        if head > 4096, head * 2 > window.count {
            window.removeFirst(head)
            head = 0
        }
    }

    /// The index of the first message at or after `seq` (binary search from ``head``).
    private func firstIndex(atLeast seq: UInt64) -> Int {
        var (lo, hi) = (head, window.count)
        while lo < hi {
            let mid = (lo + hi) / 2
            if window[mid].seq < seq { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Reads new messages from `tail`, beginning again after a quarantine (``SegmentChain/Retry``).
    static func read(_ tail: LogTail, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        while true {
            let start = tail.nextSeq
            do { return try tail.read(limit: limit, maxBytes: maxBytes) } catch is SegmentChain.Retry {
                tail.restart(from: start)
            }
        }
    }
}
