extension RelayQueue {
    /// What ``nextBatch(now:)`` took: the messages for the sink, in sequence order, and for each the
    /// queue it came from (so that applying the outcomes looks nothing up by key).
    struct Batch: RandomAccessCollection, Sendable {
        private(set) var messages: [StoredMessage] = []
        var slots: [Int32] = []
        /// The messages' footprints (``StoredMessage/footprint``), summed.
        private(set) var bytes = 0
        /// Which ``nextBatch(now:)`` call took it.
        var number = 0
        /// The class its messages are in (``LaneSchedule/classes``: without live classes, their lane).
        var lane = 0
        /// Empty because the first message ready is larger than the uplink budget left.
        var heldBack = false

        var startIndex: Int { 0 }
        var endIndex: Int { messages.count }
        subscript(i: Int) -> StoredMessage { messages[i] }

        mutating func append(_ m: StoredMessage, slot: Int32, bytes: Int) {
            messages.append(m)
            slots.append(slot)
            self.bytes += bytes
        }

        mutating func reserve(_ n: Int) {
            messages.reserveCapacity(n)
            slots.reserveCapacity(n)
        }

        /// Leaves out the messages whose numbers are in `seqs`.
        mutating func remove(_ seqs: Set<UInt64>) {
            guard !seqs.isEmpty else { return }
            var kept = Batch()
            kept.number = number
            kept.lane = lane
            for (m, s) in zip(messages, slots) where !seqs.contains(m.seq) { kept.append(m, slot: s, bytes: m.footprint) }
            self = kept
        }
    }

    /// What became of a batch.
    struct Result {
        var published: [UInt64] = []
        var dead: [DeadLetter] = []
        /// Messages whose deliver-by deadline passed while they failed: never published, tombstoned as
        /// expired (as dead letters only to keep their content, if the relay is told to).
        var expired: [DeadLetter] = []
        var failures = 0
        /// Why the sink said it is unavailable, when one outcome of the batch said so.
        var unavailable: String?
    }
}
