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
        var entries: [Entry] = []
        var head = 0

        var isEmpty: Bool { head == entries.count }
        var first: Entry? { isEmpty ? nil : entries[head] }

        /// Appends, or inserts in sequence order when an older message comes late (a sweep's straggler).
        mutating func insert(_ e: Entry) {
            if let last = entries.last, head < entries.count, last.message.seq > e.message.seq {
                let i = entries[head...].firstIndex { $0.message.seq > e.message.seq }!
                entries.insert(e, at: i)
            } else {
                entries.append(e)
            }
        }

        /// The position of `seq`, searched from the front (where a batch's messages are).
        func index(of seq: UInt64) -> Int? { entries[head...].firstIndex { $0.message.seq == seq } }

        @discardableResult
        mutating func remove(at i: Int) -> Entry {
            let e = entries[i]
            if i == head {
                head += 1
                if head == entries.count {
                    entries.removeAll(keepingCapacity: true)
                    head = 0
                } else if head >= 64 && head * 2 >= entries.count {
                    entries.removeFirst(head)
                    head = 0
                }
            } else {
                entries.remove(at: i)
            }
            return e
        }
    }

    let configuration: OutboxRelayConfiguration
    private var queues: [QueueKey: KeyQueue] = [:]
    private(set) var held = Set<UInt64>()
    var count: Int { held.count }
    /// The approximate memory the held messages take.
    private(set) var heldBytes = 0

    static func footprint(_ m: StoredMessage) -> Int { m.footprint }
    private var random = SystemRandomNumberGenerator()

    init(configuration: OutboxRelayConfiguration) {
        self.configuration = configuration
    }

    /// Adds messages not held yet, keeping each key's queue in sequence order. The queues are changed in
    /// place (a copy out of the dictionary would copy the whole queue for every message).
    mutating func add(_ messages: [StoredMessage]) {
        for var m in messages where !held.contains(m.seq) {
            if configuration.strictOrder { m.orderingKey = "" }
            held.insert(m.seq)
            heldBytes += Self.footprint(m)
            queues[QueueKey(m), default: KeyQueue()].insert(Entry(message: m, deadline: deadline(of: m.message)))
        }
    }

    /// When the earliest waiting head becomes ready, if any head waits.
    var nextRetry: ContinuousClock.Instant? {
        queues.values.compactMap { $0.first?.notBefore }.min()
    }

    /// Up to `batchSize` ready messages in sequence order: a prefix of every key whose head is ready
    /// (a k-way merge of the ready queues, so the cost grows with the batch, not with what is held).
    func nextBatch(now: ContinuousClock.Instant) -> [StoredMessage] {
        let limit = configuration.batchSize
        // (next seq, queue, position) of every ready queue, as a binary min-heap on seq.
        var heap: [(seq: UInt64, queue: [Entry], position: Int)] = []
        for q in queues.values {
            guard let head = q.first, head.notBefore.map({ $0 <= now }) ?? true else { continue }
            heap.append((head.message.seq, q.entries, q.head))
        }
        func less(_ a: Int, _ b: Int) -> Bool { heap[a].seq < heap[b].seq }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && less(l, m) { m = l }
                if r < heap.count && less(r, m) { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for i in stride(from: heap.count / 2, through: 0, by: -1) { siftDown(i) }
        var batch: [StoredMessage] = []
        batch.reserveCapacity(min(limit, held.count))
        while batch.count < limit, !heap.isEmpty {
            let top = heap[0]
            batch.append(top.queue[top.position].message)
            let next = top.position + 1
            // Later entries of a key go along unless one of them waits for a retry of its own.
            if next < top.queue.count, top.queue[next].notBefore == nil {
                heap[0].position = next
                heap[0].seq = top.queue[next].message.seq
            } else {
                heap[0] = heap[heap.count - 1]
                heap.removeLast()
            }
            if !heap.isEmpty { siftDown(0) }
        }
        return batch
    }

    /// Applies the sink's outcomes for `batch`: published messages leave; a key's first failure in the
    /// batch counts an attempt and backs off (or dead-letters); later messages of that key stay as they
    /// were. An ``PublishOutcome/unavailable(_:)`` outcome counts nothing and sets no backoff: the
    /// message stays as it was, and ``Result/unavailable`` tells the relay to pause the sink.
    /// `batch` must be what ``nextBatch(now:)`` returned (ordering keys as set by ``add(_:)``).
    mutating func apply(_ outcomes: [PublishOutcome], to batch: [StoredMessage], now: ContinuousClock.Instant, wallClock: Date) -> Result {
        var result = Result()
        var failedKeys = Set<QueueKey>()
        for (m, outcome) in zip(batch, outcomes) {
            let k = QueueKey(m)
            // Taken out of the dictionary, so it is changed in place, and put back below.
            guard var q = queues.removeValue(forKey: k) else { continue }
            defer { if !q.isEmpty { queues[k] = q } }
            guard let i = q.index(of: m.seq) else { continue }
            let before = held.count
            defer { if held.count < before { heldBytes -= Self.footprint(m) } }
            switch outcome {
            case .published:
                q.remove(at: i)
                held.remove(m.seq)
                result.published.append(m.seq)
            case .rejected(let error):
                result.failures += 1
                failedKeys.insert(k)
                let e = q.remove(at: i)
                held.remove(m.seq)
                result.dead.append(deadLetter(e, reason: "rejected by the sink", error: error, attempts: e.attempts + 1, at: wallClock))
            case .unavailable(let error):
                failedKeys.insert(k)
                if result.unavailable == nil { result.unavailable = error }
            case .failed(let error):
                result.failures += 1
                guard !failedKeys.contains(k) else { break }
                failedKeys.insert(k)
                q.entries[i].attempts += 1
                q.entries[i].lastError = error
                let e = q.entries[i]
                if let deadline = e.deadline, wallClock >= deadline {
                    q.remove(at: i)
                    held.remove(m.seq)
                    result.expired.append(deadLetter(e, reason: "deliver-by deadline passed", error: error, attempts: e.attempts, at: wallClock))
                } else if e.attempts >= configuration.maxAttempts {
                    q.remove(at: i)
                    held.remove(m.seq)
                    result.dead.append(deadLetter(e, reason: "gave up after \(e.attempts) attempts", error: error,
                                                  attempts: e.attempts, at: wallClock))
                } else {
                    let wait = configuration.backoff(afterAttempt: e.attempts, random: Double.random(in: 0...1, using: &random))
                    q.entries[i].notBefore = now + wait
                }
            }
        }
        return result
    }

    /// Forgets the held messages whose numbers are in `seqs` (the writer dropped them: they must not be
    /// published). Rare, so it looks at everything held.
    mutating func remove(_ seqs: SequenceRangeSet) {
        guard held.contains(where: { seqs.contains($0) }) else { return }
        _ = takeAll { seqs.contains($0.message.seq) }
    }

    /// Takes every held entry that `matches` out of its queue, keeping the rest in order.
    private mutating func takeAll(where matches: (Entry) -> Bool) -> [Entry] {
        var taken: [Entry] = []
        for k in Array(queues.keys) {
            guard var q = queues.removeValue(forKey: k) else { continue }
            var i = q.head
            while i < q.entries.count {
                let e = q.entries[i]
                guard matches(e) else {
                    i += 1
                    continue
                }
                let wasHead = i == q.head
                q.remove(at: i)
                held.remove(e.message.seq)
                heldBytes -= Self.footprint(e.message)
                taken.append(e)
                // Removing the head moves the head (and may trim the storage); removing another entry
                // shifts the later ones down to `i`.
                if wasHead { i = q.head }
            }
            if !q.isEmpty { queues[k] = q }
        }
        return taken
    }

    /// Takes the messages of `batch` (what ``nextBatch(now:)`` returned) whose deliver-by deadline has
    /// passed out of the queue: they must not be published. Costs a look at the batch, not at everything
    /// held.
    mutating func takeExpired(in batch: [StoredMessage], wallClock: Date) -> [DeadLetter] {
        var expired: [DeadLetter] = []
        for m in batch {
            let k = QueueKey(m)
            guard var q = queues.removeValue(forKey: k) else { continue }
            if let i = q.index(of: m.seq), let deadline = q.entries[i].deadline, wallClock >= deadline {
                let e = q.remove(at: i)
                held.remove(m.seq)
                heldBytes -= Self.footprint(m)
                expired.append(deadLetter(e, reason: "deliver-by deadline passed", error: e.lastError.isEmpty ? "not published in time" : e.lastError,
                                          attempts: e.attempts, at: wallClock))
            }
            if !q.isEmpty { queues[k] = q }
        }
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
