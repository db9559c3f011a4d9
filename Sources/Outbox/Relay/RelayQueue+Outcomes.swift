import Foundation

extension RelayQueue {
    /// Applies the sink's outcomes for `batch`: published messages leave; a key's first failure in the
    /// batch counts an attempt and backs off (or dead-letters); later messages of that key stay as they
    /// were. An ``PublishOutcome/unavailable(_:)`` outcome counts nothing and sets no backoff: the
    /// message stays as it was, and ``Result/unavailable`` tells the relay to pause the sink.
    /// `batch` must be what ``nextBatch(now:)`` returned (ordering keys as set by ``add(_:)``).
    mutating func apply(_ outcomes: [PublishOutcome], to batch: Batch, now: ContinuousClock.Instant, clock: ClockReading) -> Result {
        if outcomes.allSatisfy({ $0 == .published }) { return applyAllPublished(batch, now: now) }
        var pass = OutcomePass(clock: clock, now: now)
        pass.result.published.reserveCapacity(batch.count)
        for (n, outcome) in outcomes.enumerated() {
            let (seq, s) = (batch.messages[n].seq, batch.slots[n])
            let k = Int(s)
            guard slots[k].inFlight > 0, slots[k].batchNumber == batch.number,
                  let i = slots[k].index(of: seq, from: pass.cursor[s]) else { continue }
            if pass.cursor[s] == nil { pass.touched.append(s) }
            if apply(outcome, toEntry: i, of: s, pass: &pass) { continue }
            pass.cursor[s] = i + 1  // kept: the next one is behind it
        }
        // The batch's keys are no longer in flight.
        for s in pass.touched {
            slots[Int(s)].inFlight = 0
            schedule(s, now: now)
        }
        return pass.result
    }

    /// One pass of ``apply(_:to:now:clock:)`` over a batch with failures.
    struct OutcomePass {
        let clock: ClockReading
        let now: ContinuousClock.Instant
        var result = Result()
        var failedKeys = Set<Int32>()
        var touched: [Int32] = []
        /// Where the next message of each key is looked for, by slot: a key's messages come in order in
        /// the batch, so each search starts where the last one ended (a key with a thousand messages in
        /// the batch costs a thousand steps, not half a million).
        var cursor: [Int32: Int] = [:]
    }

    /// The common case, in O(1) per key: each key's entries in flight are this batch's messages of that
    /// key (those still held), and all of them leave.
    private mutating func applyAllPublished(_ batch: Batch, now: ContinuousClock.Instant) -> Result {
        var result = Result()
        result.published.reserveCapacity(batch.count)
        for seq in batch.messages.lazy.map(\.seq) where held.remove(seq) != nil { result.published.append(seq) }
        var touched: [Int32] = []
        for s in batch.slots {
            let k = Int(s)
            guard slots[k].inFlight > 0, slots[k].batchNumber == batch.number else { continue }
            let count = slots[k].inFlight
            released(lane: slots[k].lane, count: count, bytes: slots[k].dropInFlight())
            touched.append(s)
        }
        for s in touched { schedule(s, now: now) }
        return result
    }

    /// Applies one outcome to entry `i` of slot `s`; true when the entry left the queue.
    private mutating func apply(_ outcome: PublishOutcome, toEntry i: Int, of s: Int32, pass: inout OutcomePass) -> Bool {
        let k = Int(s)
        let seq = slots[k].entries[i].message.seq
        switch outcome {
        case .published:
            leave(s, at: i, pass: &pass)
            pass.result.published.append(seq)
            return true
        case .rejected(let error):
            pass.result.failures += 1
            pass.failedKeys.insert(s)
            let e = slots[k].entries[i]
            leave(s, at: i, pass: &pass)
            pass.result.dead.append(deadLetter(e, reason: "rejected by the sink", error: error, attempts: e.attempts + 1, at: pass.clock))
            return true
        case .unavailable(let error):
            pass.failedKeys.insert(s)
            if pass.result.unavailable == nil { pass.result.unavailable = error }
            return false
        case .failed(let error):
            pass.result.failures += 1
            guard !pass.failedKeys.contains(s) else { return false }
            pass.failedKeys.insert(s)
            slots[k].entries[i].attempts += 1
            slots[k].entries[i].lastError = error
            let e = slots[k].entries[i]
            if let deadline = e.deadline, deadline.passed(at: pass.clock) {
                leave(s, at: i, pass: &pass)
                pass.result.expired.append(deadLetter(e, reason: "deliver-by deadline passed", error: error, attempts: e.attempts, at: pass.clock))
                return true
            }
            if e.attempts >= configuration.maxAttempts {
                leave(s, at: i, pass: &pass)
                pass.result.dead.append(deadLetter(e, reason: "gave up after \(e.attempts) attempts", error: error,
                                                   attempts: e.attempts, at: pass.clock))
                return true
            }
            let wait = configuration.backoff(afterAttempt: e.attempts, random: Double.random(in: 0...1, using: &random))
            slots[k].entries[i].notBefore = pass.now + wait
            return false
        }
    }

    /// Takes entry `i` of slot `s` out of the queue for good (published, dead or expired); the key's next
    /// message is looked for from there: at the new head if it was the head, else at `i` (the later ones
    /// moved down).
    private mutating func leave(_ s: Int32, at i: Int, pass: inout OutcomePass) {
        let k = Int(s)
        let headBefore = slots[k].head
        released(lane: slots[k].lane, count: 1, bytes: slots[k].entries[i].bytes)
        held.remove(slots[k].entries[i].message.seq)
        slots[k].drop(at: i)
        pass.cursor[s] = i == headBefore ? slots[k].head : i
    }
}
