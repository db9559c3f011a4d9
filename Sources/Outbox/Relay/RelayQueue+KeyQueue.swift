extension RelayQueue {
    /// Which queue a message is in: its ordering key in its lane (one shared key under strict order, set
    /// by ``add(_:)``), or a queue of its own when it has none.
    enum QueueKey: Hashable {
        case key(String, lane: Int)
        case alone(UInt64)

        init(_ m: StoredMessage, lane: Int) { self = m.orderingKey.map { .key($0, lane: lane) } ?? .alone(m.seq) }
    }

    /// One key's messages in sequence order. Messages leave from the front (a batch takes a prefix of each
    /// key), so the front is an index and the storage is trimmed now and then: leaving costs O(1), not a
    /// shift of everything behind.
    struct KeyQueue {
        var key: QueueKey
        /// The lane its messages are in (an index into the route's ``LaneSchedule``).
        var lane: Int
        var entries: [Entry] = []
        var head = 0
        /// How many entries from `head` on a batch took that is not applied yet (the key is in flight:
        /// nothing later of it goes out until then).
        var inFlight = 0
        /// The ``nextBatch(now:)`` call that took them.
        var batchNumber = 0

        init(key: QueueKey, lane: Int) {
            self.key = key
            self.lane = lane
        }

        var isEmpty: Bool { head == entries.count }
        /// The number of the first entry (read in place: an entry is never copied to be looked at).
        var headSeq: UInt64? { isEmpty ? nil : entries[head].message.seq }
        var headNotBefore: ContinuousClock.Instant? { isEmpty ? nil : entries[head].notBefore }

        /// Appends, or inserts in sequence order when an older message comes late (a sweep's straggler),
        /// never in front of `from` (the entries in flight).
        mutating func insert(_ e: Entry, from: Int) {
            if from < entries.count, entries[entries.count - 1].message.seq > e.message.seq {
                let i = entries[from...].firstIndex { $0.message.seq > e.message.seq }!
                entries.insert(e, at: i)
            } else {
                entries.append(e)
            }
        }

        /// The position of `seq`, searched from the front (where a batch's messages are), or from `from`.
        func index(of seq: UInt64, from: Int? = nil) -> Int? {
            let start = max(head, min(from ?? head, entries.count))
            return entries[start...].firstIndex { $0.message.seq == seq } ?? (start > head ? entries[head..<start].firstIndex { $0.message.seq == seq } : nil)
        }

        mutating func remove(at i: Int) -> Entry {
            let e = entries[i]
            drop(at: i)
            return e
        }

        /// Removes the entry at `i` without copying it out (a published message).
        mutating func drop(at i: Int) {
            if i < head + inFlight { inFlight -= 1 }
            if i == head {
                head += 1
                trimFront()
            } else {
                entries.remove(at: i)
            }
        }

        /// Removes every entry in flight (all of them were published) and returns their footprints'
        /// sum: they are the first `inFlight` entries, as a batch takes a prefix of each key.
        mutating func dropInFlight() -> Int {
            var bytes = 0
            for j in head..<(head + inFlight) { bytes += entries[j].bytes }
            head += inFlight
            inFlight = 0
            trimFront()
            return bytes
        }

        /// Lets go of the entries before `head` once they are all of them, or at least half.
        private mutating func trimFront() {
            if head == entries.count {
                entries.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= entries.count {
                entries.removeFirst(head)
                head = 0
            }
        }
    }

    /// A key whose next message may go out, by that message's number (checked when taken: the heap may
    /// hold outdated items, which are skipped).
    struct ReadyItem: Comparable {
        var seq: UInt64
        var slot: Int32
        static func < (a: ReadyItem, b: ReadyItem) -> Bool { a.seq < b.seq }
    }

    /// A key whose head waits for its retry, by when.
    struct WaitingItem: Comparable {
        var at: ContinuousClock.Instant
        var slot: Int32
        static func < (a: WaitingItem, b: WaitingItem) -> Bool { a.at < b.at }
    }
}
