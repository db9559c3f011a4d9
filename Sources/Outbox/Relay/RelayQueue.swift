import Foundation

/// The relay's in-memory view of pending messages: one queue per ordering key, each in sequence order.
///
/// A key's head must be published (or dead-lettered) before any later message of that key is handed to
/// the sink again, so per-key order holds across failures and retries, while other keys go on. Messages
/// without a key have no ordering constraint. With strict order everything is one key (one per lane).
///
/// **Lanes.** Every message is in one of the route's lanes (``OutboxRelayConfiguration/lanes``; a lane
/// not listed travels with `normal`), and keys are per lane: a key's order holds within its lane, and a
/// `critical` message never waits behind a `bulk` one of the same key. Each batch is of one lane, chosen
/// by deficit round robin over wire bytes (``LaneSchedule``): while several lanes have messages ready,
/// each gets bytes in proportion to its weight, the first listed first within a round. With live classes
/// (``OutboxRelayConfiguration/live``), a lane's live messages are held apart from its backlog (the
/// ``LaneSchedule``'s classes: `ready`, `laneHeld` and a key queue's `lane` are by class) and share the
/// lane's turns with it; they are key-less, so no key spans two classes.
struct RelayQueue {
    struct Entry {
        var message: StoredMessage
        var attempts = 0
        var notBefore: ContinuousClock.Instant?
        var lastError = ""
        /// The message's deliver-by deadline (header ``OutboxRelayConfiguration/deliverByHeader``), read once.
        var deadline: MessageDeadline?
        /// The message's ``StoredMessage/footprint``, counted once.
        var bytes: Int
    }

    let configuration: OutboxRelayConfiguration
    /// Every key's queue, in slots that are reused (a key-less message is a key of its own).
    var slots: [KeyQueue] = []
    var freeSlots: [Int32] = []
    var slotOf: [QueueKey: Int32] = [:]
    /// The schedule, kept as messages come and go, so that a batch costs what it takes, not a look at
    /// every key held: the keys ready to go, by lane, and those waiting for a retry.
    var ready: [MinHeap<ReadyItem>]
    var waiting = MinHeap<WaitingItem>()
    /// The lanes and their share of the uplink.
    var lanes: LaneSchedule
    /// What each class of messages (``LaneSchedule/classes``: without live classes, each lane) holds:
    /// messages and their footprints.
    var laneHeld: [(count: Int, bytes: Int)]
    private var batchNumber = 0
    var held = Set<UInt64>()
    var count: Int { held.count }
    /// The approximate memory the held messages take.
    var heldBytes = 0

    static func footprint(_ m: StoredMessage) -> Int { m.footprint }

    var random = SystemRandomNumberGenerator()

    init(configuration: OutboxRelayConfiguration) {
        self.configuration = configuration
        lanes = LaneSchedule(configuration.lanes, live: configuration.live)
        ready = Array(repeating: MinHeap(), count: lanes.classes)
        laneHeld = Array(repeating: (0, 0), count: lanes.classes)
    }

    private mutating func slot(for key: QueueKey, lane: Int) -> Int32 {
        if let s = slotOf[key] { return s }
        let s: Int32
        if let free = freeSlots.popLast() {
            s = free
            slots[Int(s)].key = key
            slots[Int(s)].lane = lane
        } else {
            s = Int32(slots.count)
            slots.append(KeyQueue(key: key, lane: lane))
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
            ready[slots[i].lane].push(ReadyItem(seq: headSeq, slot: s))
        }
    }

    /// How many more messages, and bytes, each class (each lane, and with live classes each lane's live
    /// messages) may read into the queue under the memory bounds
    /// (``OutboxRelayConfiguration/maxInMemory``, ``OutboxRelayConfiguration/maxInMemoryBytes``), with
    /// `inFlight` (a batch with the sink) counted as gone. A lane may fill what the others leave, but each
    /// other lane keeps a reserve of a quarter of the bounds shared among the lanes, so that a lane with a
    /// backlog never takes the room a `critical` message needs to be read.
    func readRoom(replacing inFlight: (lane: Int, count: Int, bytes: Int)?) -> [(count: Int, bytes: Int)] {
        var held = laneHeld
        if let inFlight {
            held[inFlight.lane].count -= inFlight.count
            held[inFlight.lane].bytes -= inFlight.bytes
        }
        let bound = (count: configuration.maxInMemory, bytes: configuration.maxInMemoryBytes)
        let others = held.count - 1
        let reserve = (count: bound.count / (4 * held.count), bytes: bound.bytes / (4 * held.count))
        let total = held.reduce((count: 0, bytes: 0)) { ($0.count + $1.count, $0.bytes + $1.bytes) }
        return held.map { own in
            (count: max(0, bound.count - own.count - max(total.count - own.count, reserve.count * others)),
             bytes: max(0, bound.bytes - own.bytes - max(total.bytes - own.bytes, reserve.bytes * others)))
        }
    }

    /// Counts `count` messages of `lane` taking `bytes` as gone from the queue.
    mutating func released(lane: Int, count: Int, bytes: Int) {
        heldBytes -= bytes
        laneHeld[lane].count -= count
        laneHeld[lane].bytes -= bytes
    }

    /// Adds messages not held yet, keeping each key's queue in sequence order. The queues are changed in
    /// place (a copy would copy the whole queue for every message). With `live`, the messages (key-less)
    /// are their lanes' live messages.
    mutating func add(_ messages: [StoredMessage], live: Bool = false) {
        let offset = live && lanes.liveShare != nil ? lanes.count : 0
        held.reserveCapacity(held.count + messages.count)
        for var m in messages where held.insert(m.seq).inserted {
            if configuration.strictOrder { m.orderingKey = "" }
            let bytes = Self.footprint(m)
            let lane = lanes.lane(of: m.message) + offset
            heldBytes += bytes
            laneHeld[lane].count += 1
            laneHeld[lane].bytes += bytes
            let s = slot(for: QueueKey(m, lane: lane), lane: lane)
            let i = Int(s)
            let headBefore = slots[i].headSeq
            slots[i].insert(Entry(message: m, deadline: deadline(of: m), bytes: bytes), from: slots[i].head + slots[i].inFlight)
            if slots[i].inFlight == 0, let head = slots[i].headSeq, head != headBefore, slots[i].headNotBefore == nil {
                ready[lane].push(ReadyItem(seq: head, slot: s))
            }
        }
    }

    /// When the earliest waiting head becomes ready, if any head waits (possibly earlier than that: a
    /// retry that no longer waits is dropped from the schedule by the next ``nextBatch(now:)``).
    var nextRetry: ContinuousClock.Instant? { waiting.min?.at }

    /// Up to `batchSize` ready messages (and about `maxBatchBytes`) in sequence order: a prefix of every key whose head is ready and
    /// that is not in flight (a k-way merge over the schedule, so the cost grows with the batch, not with
    /// what is held). The batch's keys are in flight until ``apply(_:to:now:clock:)``: none of their
    /// later messages goes out before the sink's outcome for these is known.
    /// With `wire` (an uplink cap or budget), the batch also keeps to `wire.limit` bytes on the wire
    /// (``StoredMessage/wireBytes(framing:)``): one message is always taken, unless `strict`; then a first
    /// message above the limit stays, and the batch says it was held back. The batch is of one lane, the
    /// one whose turn it is (``LaneSchedule``), and keeps to what that lane may still send in its round.
    /// With `only`, nothing but that lane's messages go (past an uplink budget, only `critical`).
    mutating func nextBatch(now: ContinuousClock.Instant, wire: (limit: Int, framing: Int, strict: Bool)? = nil, only: Int? = nil) -> Batch {
        batchNumber += 1
        while let w = waiting.min, w.at <= now {
            waiting.pop()
            let i = Int(w.slot)
            if slots[i].inFlight == 0, let head = slots[i].headSeq, let at = slots[i].headNotBefore, at <= now {
                ready[slots[i].lane].push(ReadyItem(seq: head, slot: w.slot))
            }
        }
        var batch = Batch()
        batch.number = batchNumber
        // A lane's heap may hold only outdated items, or a first message larger than what its round left
        // it: then its batch is empty, and another lane's turn comes (a new round, if every lane had one).
        let n = lanes.count
        let live = lanes.classes > n
        while let lane = lanes.next(ready: (0..<n).map { (!ready[$0].isEmpty || live && !ready[n + $0].isEmpty) && (only == nil || only == $0) }) {
            let c = lanes.pick(lane: lane, backlogReady: !ready[lane].isEmpty, liveReady: live && !ready[n + lane].isEmpty)
            batch = nextBatch(of: c, lane: lane, now: now, wire: wire)
            lanes.charge(batch.bytes, toClass: c)
            if !batch.isEmpty || batch.heldBack { break }
        }
        return batch
    }

    /// A batch of class `c` (of `lane`), within the lane's share of the round.
    private mutating func nextBatch(of c: Int, lane: Int, now: ContinuousClock.Instant, wire: (limit: Int, framing: Int, strict: Bool)?) -> Batch {
        let (limit, maxBytes) = (configuration.batchSize, configuration.maxBatchBytes)
        var batch = Batch()
        batch.number = batchNumber
        batch.lane = c
        batch.reserve(min(limit, laneHeld[c].count))
        var (bytes, wireBytes) = (0, 0)
        // While other lanes wait, the lane's turn ends where its round's share does (deficit round robin: a
        // message that does not fit waits for the lane's next round).
        let share = lanes.contended ? lanes.deficit[lane] : nil
        var (shareBytes, turnEnds) = (0, false)
        defer { if share != nil { lanes.spend(shareBytes, by: lane, endsTurn: turnEnds) } }
        while batch.count < limit, bytes < maxBytes, let top = ready[c].pop() {
            let i = Int(top.slot)
            if slots[i].inFlight > 0 && slots[i].batchNumber != batchNumber { continue }  // in an earlier batch
            let position = slots[i].head + slots[i].inFlight
            guard position < slots[i].entries.count, slots[i].entries[position].message.seq == top.seq else { continue }  // outdated
            if let at = slots[i].entries[position].notBefore, position > slots[i].head || at > now { continue }  // waits for a retry of its own
            if let wire {
                let w = slots[i].entries[position].message.wireBytes(framing: wire.framing)
                if wireBytes + w > wire.limit, !batch.isEmpty || wire.strict {
                    ready[c].push(top)  // for the next batch
                    batch.heldBack = batch.isEmpty
                    break
                }
                wireBytes += w
            }
            if let share {
                let w = slots[i].entries[position].message.wireBytes(framing: wire?.framing ?? 64)
                if shareBytes + w > share {
                    ready[c].push(top)  // the lane's next round
                    turnEnds = true
                    break
                }
                shareBytes += w
            }
            bytes += slots[i].entries[position].bytes
            batch.append(slots[i].entries[position].message, slot: top.slot, bytes: slots[i].entries[position].bytes)
            slots[i].inFlight += 1
            slots[i].batchNumber = batchNumber
            let next = position + 1
            // Later entries of a key go along unless one of them waits for a retry of its own.
            if next < slots[i].entries.count, slots[i].entries[next].notBefore == nil {
                ready[c].push(ReadyItem(seq: slots[i].entries[next].message.seq, slot: top.slot))
            }
        }
        return batch
    }
}
