import Foundation

extension RelayQueue {
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
                released(lane: slots[k].lane, count: 1, bytes: e.bytes)
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
        for i in ready.indices { ready[i].removeAll() }
        waiting.removeAll()
        let now = ContinuousClock.now
        for k in slots.indices where slotOf[slots[k].key] == Int32(k) { schedule(Int32(k), now: now) }
    }

    /// Takes the messages of `batch` (what ``nextBatch(now:)`` returned) whose deliver-by deadline has
    /// passed out of the queue: they must not be published. Costs a look at the batch, not at everything
    /// held.
    mutating func takeExpired(in batch: Batch, now clock: ClockReading) -> [DeadLetter] {
        var expired: [DeadLetter] = []
        var emptied: [Int32] = []
        for (m, s) in zip(batch.messages, batch.slots) {
            let k = Int(s)
            if let i = slots[k].index(of: m.seq), let deadline = slots[k].entries[i].deadline, deadline.passed(at: clock) {
                let e = slots[k].remove(at: i)
                held.remove(m.seq)
                released(lane: slots[k].lane, count: 1, bytes: e.bytes)
                expired.append(deadLetter(e, reason: "deliver-by deadline passed", error: e.lastError.isEmpty ? "not published in time" : e.lastError,
                                          attempts: e.attempts, at: clock))
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
    mutating func expire(now clock: ClockReading) -> [DeadLetter] {
        takeAll { e in e.deadline?.passed(at: clock) ?? false }.map { e in
            deadLetter(e, reason: "deliver-by deadline passed", error: e.lastError.isEmpty ? "the sink was unavailable" : e.lastError,
                       attempts: e.attempts, at: clock)
        }.sorted { $0.seq < $1.seq }
    }

    func deadLetter(_ e: Entry, reason: String, error: String, attempts: Int, at clock: ClockReading) -> DeadLetter {
        DeadLetter(seq: e.message.seq, message: e.message.message, reason: reason, lastError: error, attempts: attempts,
                   deadAtMicros: clock.wallMicros, redriven: false)
    }

    /// The message's deliver-by deadline: its own (``OutboxMessage/expiresAt``), or its creation time
    /// plus ``OutboxRelayConfiguration/defaultTimeToLive``, if either; a span from its commit when it has a
    /// commit clock (FORMAT.md §4c).
    func deadline(of m: StoredMessage) -> MessageDeadline? {
        let wall = m.message.expiresAt.map(OutboxMessage.micros)
            ?? configuration.defaultTimeToLive.map { m.message.createdAtMicros &+ $0.wholeMicroseconds }
        return wall.map { MessageDeadline(wallMicros: $0, commit: m.commitClock) }
    }
}
