import Foundation

/// The relay's in-memory view of pending messages: one queue per ordering key, each in sequence order.
///
/// A key's head must be published (or dead-lettered) before any later message of that key is handed to
/// the sink again, so per-key order holds across failures and retries, while other keys go on. Messages
/// without a key have no ordering constraint. With strict order everything is one key.
struct RelayQueue {
    struct Entry {
        var message: StoredMessage
        var attempts = 0
        var notBefore: ContinuousClock.Instant?
        var lastError = ""
        /// The message's deliver-by deadline (header ``OutboxRelayConfiguration/deliverByHeader``), read once.
        var deadline: Date?
        /// The message's ``StoredMessage/footprint``, counted once.
        var bytes: Int
    }

    let configuration: OutboxRelayConfiguration
    /// Every key's queue, in slots that are reused (a key-less message is a key of its own).
    var slots: [KeyQueue] = []
    var freeSlots: [Int32] = []
    var slotOf: [QueueKey: Int32] = [:]
    /// The schedule, kept as messages come and go, so that a batch costs what it takes, not a look at
    /// every key held.
    var ready = MinHeap<ReadyItem>()
    var waiting = MinHeap<WaitingItem>()
    private var batchNumber = 0
    var held = Set<UInt64>()
    var count: Int { held.count }
    /// The approximate memory the held messages take.
    var heldBytes = 0

    static func footprint(_ m: StoredMessage) -> Int { m.footprint }

    var random = SystemRandomNumberGenerator()

    init(configuration: OutboxRelayConfiguration) {
        self.configuration = configuration
    }

    private mutating func slot(for key: QueueKey) -> Int32 {
        if let s = slotOf[key] { return s }
        let s: Int32
        if let free = freeSlots.popLast() {
            s = free
            slots[Int(s)].key = key
        } else {
            s = Int32(slots.count)
            slots.append(KeyQueue(key: key))
        }
        slotOf[key] = s
        return s
    }

    /// Puts a key that is not in flight back on the schedule (ready, or waiting for its head's retry),
    /// or frees its slot when it holds nothing.
    mutating func schedule(_ s: Int32, now: ContinuousClock.Instant) {
        let i = Int(s)
        guard slots[i].inFlight == 0 else { return }
        guard let headSeq = slots[i].headSeq else {
            slotOf.removeValue(forKey: slots[i].key)
            // Kept for reuse; a large one is let go (a key that held a backlog).
            if slots[i].entries.capacity > 64 { slots[i].entries = [] } else { slots[i].entries.removeAll(keepingCapacity: true) }
            slots[i].head = 0
            freeSlots.append(s)
            return
        }
        if let at = slots[i].headNotBefore, at > now {
            waiting.push(WaitingItem(at: at, slot: s))
        } else {
            ready.push(ReadyItem(seq: headSeq, slot: s))
        }
    }

    /// Adds messages not held yet, keeping each key's queue in sequence order. The queues are changed in
    /// place (a copy would copy the whole queue for every message).
    mutating func add(_ messages: [StoredMessage]) {
        held.reserveCapacity(held.count + messages.count)
        for var m in messages where held.insert(m.seq).inserted {
            if configuration.strictOrder { m.orderingKey = "" }
            let bytes = Self.footprint(m)
            heldBytes += bytes
            let s = slot(for: QueueKey(m))
            let i = Int(s)
            let headBefore = slots[i].headSeq
            slots[i].insert(Entry(message: m, deadline: deadline(of: m.message), bytes: bytes), from: slots[i].head + slots[i].inFlight)
            if slots[i].inFlight == 0, let head = slots[i].headSeq, head != headBefore, slots[i].headNotBefore == nil {
                ready.push(ReadyItem(seq: head, slot: s))
            }
        }
    }

    /// When the earliest waiting head becomes ready, if any head waits (possibly earlier than that: a
    /// retry that no longer waits is dropped from the schedule by the next ``nextBatch(now:)``).
    var nextRetry: ContinuousClock.Instant? { waiting.min?.at }

    /// Up to `batchSize` ready messages (and about `maxBatchBytes`) in sequence order: a prefix of every key whose head is ready and
    /// that is not in flight (a k-way merge over the schedule, so the cost grows with the batch, not with
    /// what is held). The batch's keys are in flight until ``apply(_:to:now:wallClock:)``: none of their
    /// later messages goes out before the sink's outcome for these is known.
    /// With `wire` (an uplink cap or budget), the batch also keeps to `wire.limit` bytes on the wire
    /// (``StoredMessage/wireBytes(framing:)``): one message is always taken, unless `strict`; then a first
    /// message above the limit stays, and the batch says it was held back.
    mutating func nextBatch(now: ContinuousClock.Instant, wire: (limit: Int, framing: Int, strict: Bool)? = nil) -> Batch {
        batchNumber += 1
        while let w = waiting.min, w.at <= now {
            waiting.pop()
            let i = Int(w.slot)
            if slots[i].inFlight == 0, let head = slots[i].headSeq, let at = slots[i].headNotBefore, at <= now {
                ready.push(ReadyItem(seq: head, slot: w.slot))
            }
        }
        let (limit, maxBytes) = (configuration.batchSize, configuration.maxBatchBytes)
        var batch = Batch()
        batch.number = batchNumber
        batch.reserve(min(limit, held.count))
        var (bytes, wireBytes) = (0, 0)
        while batch.count < limit, bytes < maxBytes, let top = ready.pop() {
            let i = Int(top.slot)
            if slots[i].inFlight > 0 && slots[i].batchNumber != batchNumber { continue }  // in an earlier batch
            let position = slots[i].head + slots[i].inFlight
            guard position < slots[i].entries.count, slots[i].entries[position].message.seq == top.seq else { continue }  // outdated
            if let at = slots[i].entries[position].notBefore, position > slots[i].head || at > now { continue }  // waits for a retry of its own
            if let wire {
                let w = slots[i].entries[position].message.wireBytes(framing: wire.framing)
                if wireBytes + w > wire.limit, !batch.isEmpty || wire.strict {
                    ready.push(top)  // for the next batch
                    batch.heldBack = batch.isEmpty
                    break
                }
                wireBytes += w
            }
            bytes += slots[i].entries[position].bytes
            batch.append(slots[i].entries[position].message, slot: top.slot, bytes: slots[i].entries[position].bytes)
            slots[i].inFlight += 1
            slots[i].batchNumber = batchNumber
            let next = position + 1
            // Later entries of a key go along unless one of them waits for a retry of its own.
            if next < slots[i].entries.count, slots[i].entries[next].notBefore == nil {
                ready.push(ReadyItem(seq: slots[i].entries[next].message.seq, slot: top.slot))
            }
        }
        return batch
    }
}
