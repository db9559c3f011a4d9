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

    /// What ``nextBatch(now:)`` took: the messages for the sink, in sequence order, and for each the
    /// queue it came from (so that applying the outcomes looks nothing up by key).
    struct Batch: RandomAccessCollection, Sendable {
        private(set) var messages: [StoredMessage] = []
        fileprivate var slots: [Int32] = []
        /// The messages' footprints (``StoredMessage/footprint``), summed.
        private(set) var bytes = 0
        /// Which ``nextBatch(now:)`` call took it.
        fileprivate var number = 0

        var startIndex: Int { 0 }
        var endIndex: Int { messages.count }
        subscript(i: Int) -> StoredMessage { messages[i] }

        fileprivate mutating func append(_ m: StoredMessage, slot: Int32, bytes: Int) {
            messages.append(m)
            slots.append(slot)
            self.bytes += bytes
        }

        fileprivate mutating func reserve(_ n: Int) {
            messages.reserveCapacity(n)
            slots.reserveCapacity(n)
        }

        /// Leaves out the messages whose numbers are in `seqs`.
        mutating func remove(_ seqs: Set<UInt64>) {
            guard !seqs.isEmpty else { return }
            var kept = Batch()
            kept.number = number
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

    /// Which queue a message is in: its ordering key (one shared key under strict order, set by
    /// ``add(_:)``), or a queue of its own when it has none.
    private enum QueueKey: Hashable {
        case key(String)
        case alone(UInt64)

        init(_ m: StoredMessage) { self = m.orderingKey.map { .key($0) } ?? .alone(m.seq) }
    }

    /// One key's messages in sequence order. Messages leave from the front (a batch takes a prefix of each
    /// key), so the front is an index and the storage is trimmed now and then: leaving costs O(1), not a
    /// shift of everything behind.
    private struct KeyQueue {
        var key: QueueKey
        var entries: [Entry] = []
        var head = 0
        /// How many entries from `head` on a batch took that is not applied yet (the key is in flight:
        /// nothing later of it goes out until then).
        var inFlight = 0
        /// The ``nextBatch(now:)`` call that took them.
        var batchNumber = 0

        init(key: QueueKey) { self.key = key }

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
    private struct ReadyItem: Comparable {
        var seq: UInt64
        var slot: Int32
        static func < (a: ReadyItem, b: ReadyItem) -> Bool { a.seq < b.seq }
    }

    /// A key whose head waits for its retry, by when.
    private struct WaitingItem: Comparable {
        var at: ContinuousClock.Instant
        var slot: Int32
        static func < (a: WaitingItem, b: WaitingItem) -> Bool { a.at < b.at }
    }

    let configuration: OutboxRelayConfiguration
    /// Every key's queue, in slots that are reused (a key-less message is a key of its own).
    private var slots: [KeyQueue] = []
    private var freeSlots: [Int32] = []
    private var slotOf: [QueueKey: Int32] = [:]
    /// The schedule, kept as messages come and go, so that a batch costs what it takes, not a look at
    /// every key held.
    private var ready = MinHeap<ReadyItem>()
    private var waiting = MinHeap<WaitingItem>()
    private var batchNumber = 0
    private(set) var held = Set<UInt64>()
    var count: Int { held.count }
    /// The approximate memory the held messages take.
    private(set) var heldBytes = 0

    static func footprint(_ m: StoredMessage) -> Int { m.footprint }

    private var random = SystemRandomNumberGenerator()

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
    private mutating func schedule(_ s: Int32, now: ContinuousClock.Instant) {
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
    mutating func nextBatch(now: ContinuousClock.Instant) -> Batch {
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
        var bytes = 0
        while batch.count < limit, bytes < maxBytes, let top = ready.pop() {
            let i = Int(top.slot)
            if slots[i].inFlight > 0 && slots[i].batchNumber != batchNumber { continue }  // in an earlier batch
            let position = slots[i].head + slots[i].inFlight
            guard position < slots[i].entries.count, slots[i].entries[position].message.seq == top.seq else { continue }  // outdated
            if let at = slots[i].entries[position].notBefore, position > slots[i].head || at > now { continue }  // waits for a retry of its own
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

    /// Applies the sink's outcomes for `batch`: published messages leave; a key's first failure in the
    /// batch counts an attempt and backs off (or dead-letters); later messages of that key stay as they
    /// were. An ``PublishOutcome/unavailable(_:)`` outcome counts nothing and sets no backoff: the
    /// message stays as it was, and ``Result/unavailable`` tells the relay to pause the sink.
    /// `batch` must be what ``nextBatch(now:)`` returned (ordering keys as set by ``add(_:)``).
    mutating func apply(_ outcomes: [PublishOutcome], to batch: Batch, now: ContinuousClock.Instant, wallClock: Date) -> Result {
        var result = Result()
        result.published.reserveCapacity(batch.count)
        if outcomes.allSatisfy({ $0 == .published }) {
            // The common case, in O(1) per key: each key's entries in flight are this batch's messages of
            // that key (those still held), and all of them leave.
            for seq in batch.messages.lazy.map(\.seq) where held.remove(seq) != nil { result.published.append(seq) }
            var touched: [Int32] = []
            for s in batch.slots {
                let k = Int(s)
                guard slots[k].inFlight > 0, slots[k].batchNumber == batch.number else { continue }
                heldBytes -= slots[k].dropInFlight()
                touched.append(s)
            }
            for s in touched { schedule(s, now: now) }
            return result
        }
        var failedKeys = Set<Int32>()
        var touched: [Int32] = []
        // Where the next message of each key is looked for, by slot: a key's messages come in order in
        // the batch, so each search starts where the last one ended (a key with a thousand messages in the
        // batch costs a thousand steps, not half a million).
        var cursor: [Int32: Int] = [:]
        /// Takes entry `i` of slot `s` out of the queue for good (published, dead or expired); the key's
        /// next message is looked for from there: at the new head if it was the head, else at `i` (the
        /// later ones moved down).
        func leave(_ s: Int32, at i: Int, headBefore: Int) {
            let k = Int(s)
            heldBytes -= slots[k].entries[i].bytes
            held.remove(slots[k].entries[i].message.seq)
            slots[k].drop(at: i)
            cursor[s] = i == headBefore ? slots[k].head : i
        }
        for (n, outcome) in outcomes.enumerated() {
            let (seq, s) = (batch.messages[n].seq, batch.slots[n])
            let k = Int(s)
            guard slots[k].inFlight > 0, slots[k].batchNumber == batch.number, let i = slots[k].index(of: seq, from: cursor[s]) else { continue }
            if cursor[s] == nil { touched.append(s) }
            let headBefore = slots[k].head
            switch outcome {
            case .published:
                leave(s, at: i, headBefore: headBefore)
                result.published.append(seq)
                continue
            case .rejected(let error):
                result.failures += 1
                failedKeys.insert(s)
                let e = slots[k].entries[i]
                leave(s, at: i, headBefore: headBefore)
                result.dead.append(deadLetter(e, reason: "rejected by the sink", error: error, attempts: e.attempts + 1, at: wallClock))
                continue
            case .unavailable(let error):
                failedKeys.insert(s)
                if result.unavailable == nil { result.unavailable = error }
            case .failed(let error):
                result.failures += 1
                guard !failedKeys.contains(s) else { break }
                failedKeys.insert(s)
                slots[k].entries[i].attempts += 1
                slots[k].entries[i].lastError = error
                let e = slots[k].entries[i]
                if let deadline = e.deadline, wallClock >= deadline {
                    leave(s, at: i, headBefore: headBefore)
                    result.expired.append(deadLetter(e, reason: "deliver-by deadline passed", error: error, attempts: e.attempts, at: wallClock))
                    continue
                } else if e.attempts >= configuration.maxAttempts {
                    leave(s, at: i, headBefore: headBefore)
                    result.dead.append(deadLetter(e, reason: "gave up after \(e.attempts) attempts", error: error,
                                                  attempts: e.attempts, at: wallClock))
                    continue
                } else {
                    let wait = configuration.backoff(afterAttempt: e.attempts, random: Double.random(in: 0...1, using: &random))
                    slots[k].entries[i].notBefore = now + wait
                }
            }
            cursor[s] = i + 1  // kept: the next one is behind it
        }
        // The batch's keys are no longer in flight.
        for s in touched {
            slots[Int(s)].inFlight = 0
            schedule(s, now: now)
        }
        return result
    }

    /// Forgets the held messages whose numbers are in `seqs` (the writer dropped them: they must not be
    /// published). Rare, so it looks at everything held.
    mutating func remove(_ seqs: SequenceRangeSet) {
        guard held.contains(where: { seqs.contains($0) }) else { return }
        _ = takeAll { seqs.contains($0.message.seq) }
    }

    /// Takes every held entry that `matches` out of its queue, keeping the rest in order, and makes the
    /// schedule again (rare: drops and deadlines during an outage).
    private mutating func takeAll(where matches: (Entry) -> Bool) -> [Entry] {
        var taken: [Entry] = []
        for k in slots.indices where slotOf[slots[k].key] == Int32(k) {
            var i = slots[k].head
            while i < slots[k].entries.count {
                let e = slots[k].entries[i]
                guard matches(e) else {
                    i += 1
                    continue
                }
                let wasHead = i == slots[k].head
                _ = slots[k].remove(at: i)
                held.remove(e.message.seq)
                heldBytes -= e.bytes
                taken.append(e)
                // Removing the head moves the head (and may trim the storage); removing another entry
                // shifts the later ones down to `i`.
                if wasHead { i = slots[k].head }
            }
        }
        rebuildSchedule()
        return taken
    }

    private mutating func rebuildSchedule() {
        ready.removeAll()
        waiting.removeAll()
        let now = ContinuousClock.now
        for k in slots.indices where slotOf[slots[k].key] == Int32(k) { schedule(Int32(k), now: now) }
    }

    /// Takes the messages of `batch` (what ``nextBatch(now:)`` returned) whose deliver-by deadline has
    /// passed out of the queue: they must not be published. Costs a look at the batch, not at everything
    /// held.
    mutating func takeExpired(in batch: Batch, wallClock: Date) -> [DeadLetter] {
        var expired: [DeadLetter] = []
        var emptied: [Int32] = []
        for (m, s) in zip(batch.messages, batch.slots) {
            let k = Int(s)
            if let i = slots[k].index(of: m.seq), let deadline = slots[k].entries[i].deadline, wallClock >= deadline {
                let e = slots[k].remove(at: i)
                held.remove(m.seq)
                heldBytes -= e.bytes
                expired.append(deadLetter(e, reason: "deliver-by deadline passed", error: e.lastError.isEmpty ? "not published in time" : e.lastError,
                                          attempts: e.attempts, at: wallClock))
                if slots[k].inFlight == 0 { emptied.append(s) }
            }
        }
        // A key none of whose messages is left in the batch is not in flight any more.
        let now = ContinuousClock.now
        for s in emptied where slots[Int(s)].inFlight == 0 && slotOf[slots[Int(s)].key] == s { schedule(s, now: now) }
        return expired
    }

    /// Takes out every held message whose deliver-by deadline has passed (to be tombstoned as expired).
    /// While the sink is unavailable nothing is published and nothing fails, but deadlines still apply.
    mutating func expire(wallClock: Date) -> [DeadLetter] {
        takeAll { e in e.deadline.map { wallClock >= $0 } ?? false }.map { e in
            deadLetter(e, reason: "deliver-by deadline passed", error: e.lastError.isEmpty ? "the sink was unavailable" : e.lastError,
                       attempts: e.attempts, at: wallClock)
        }.sorted { $0.seq < $1.seq }
    }

    private func deadLetter(_ e: Entry, reason: String, error: String, attempts: Int, at: Date) -> DeadLetter {
        DeadLetter(seq: e.message.seq, message: e.message.message, reason: reason, lastError: error, attempts: attempts,
                   deadAtMicros: OutboxMessage.micros(at), redriven: false)
    }

    /// The message's deliver-by deadline: its own (``OutboxMessage/expiresAt``), or its creation time
    /// plus ``OutboxRelayConfiguration/defaultTimeToLive``, if either.
    func deadline(of m: OutboxMessage) -> Date? {
        m.expiresAt ?? configuration.defaultTimeToLive.map { m.createdAt.addingTimeInterval(Double($0.wholeMilliseconds) / 1000) }
    }

}
