import Foundation

/// A dedicated thread that takes every request waiting and hands them to `process` as one batch: one
/// `write` and one `fdatasync` serve them all (group commit).
///
/// **Waiting for the callers it released.** A greedy committer (take whatever is queued the moment the
/// last batch is done) splits concurrent callers into two cohorts that take turns: the callers a batch
/// just completed need tens of microseconds to resume and submit again, so they miss the next batch,
/// which carries only those that queued during the sync. So after a batch that completed `r` callers,
/// with `q` more queued meanwhile, the thread waits until `r + q` requests are queued, or for at most
/// half the time a batch takes to process (its `fdatasync`, in effect; at most 1 ms), whichever comes
/// first. A lone caller (`r + q == 1`) never waits for anyone but itself. `q` counts only the requests
/// queued before the batch began completing its callers (`process` says when), so that a released caller
/// that is back at once is not counted twice. Opt-in (`waitsForReleasedCallers`): a log with one caller
/// (the relay's tombstones) has no one to wait for.
///
/// Blocking system calls of a log run only on this thread, never on Swift's cooperative pool. Callers
/// submit from any thread and are completed from this one.
final class GroupCommitter<Request>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Request] = []
    private var queuedWeight = 0
    private var stopping = false
    private let maxBatchWeight: Int
    private let weight: (Request) -> Int
    private let process: ([Request], _ completing: () -> Void) -> Void
    private let done = DispatchSemaphore(value: 0)
    /// While the thread waits for its released callers: wake it once this many requests are queued.
    private var wanted = Int.max
    /// Requests submitted while a batch was being processed, before it began completing its callers.
    private var arrivedDuringBatch = 0
    private var processing = false
    private let waitsForReleasedCallers: Bool
    /// How long a batch takes to process, smoothed (nanoseconds).
    private var batchNanos: Double = 0
    /// The longest the thread waits for released callers.
    static var maxWait: Duration { .milliseconds(1) }

    /// - Parameters:
    ///   - maxBatchWeight: a batch stops growing once its requests weigh this much (at least one
    ///     request is always taken).
    ///   - weight: the weight of a request (its bytes).
    ///   - process: handles one batch; it must complete every request it is given, and call `completing`
    ///     just before it completes the batch's callers (requests submitted from then on may be theirs).
    ///   - waitsForReleasedCallers: wait briefly for the callers a batch completed before taking the next.
    init(name: String, maxBatchWeight: Int, waitsForReleasedCallers: Bool = false, weight: @escaping (Request) -> Int,
         releasing process: @escaping ([Request], _ completing: () -> Void) -> Void) {
        self.maxBatchWeight = maxBatchWeight
        self.waitsForReleasedCallers = waitsForReleasedCallers
        self.weight = weight
        self.process = process
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// A committer whose `process` does not say when it releases its callers.
    convenience init(name: String, maxBatchWeight: Int, waitsForReleasedCallers: Bool = false, weight: @escaping (Request) -> Int,
                     process: @escaping ([Request]) -> Void) {
        self.init(name: name, maxBatchWeight: maxBatchWeight, waitsForReleasedCallers: waitsForReleasedCallers, weight: weight,
                  releasing: { batch, _ in process(batch) })
    }

    /// Queues `request`; false if the committer was stopped (the request was not taken).
    func submit(_ request: Request) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if stopping { return false }
        let wasEmpty = queue.isEmpty
        queue.append(request)
        queuedWeight += weight(request)
        if processing { arrivedDuringBatch += 1 }
        if wasEmpty || queue.count >= wanted { condition.signal() }
        return true
    }

    /// Called through `process`'s `completing` (on the commit thread) just before it completes the
    /// batch's callers: requests submitted from now on may be theirs.
    private func completing() {
        condition.lock()
        processing = false
        condition.unlock()
    }

    /// Refuses new requests, lets the thread finish every queued one, and waits for it to exit.
    func stop() {
        if finishQueued() { done.wait() }
    }

    /// Refuses new requests and lets the thread finish every queued one and exit, without waiting for
    /// it; true the first time.
    @discardableResult
    func finishQueued() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let first = !stopping
        stopping = true
        condition.signal()
        return first
    }

    private func run() {
        var batch: [Request] = []
        var released = 0
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                break
            }
            // Wait (briefly) for the callers the last batch released to come back, as well as those
            // already queued, so that they share the next batch instead of taking turns.
            let target = released + arrivedDuringBatch
            if waitsForReleasedCallers, target > 1, queue.count < target, queuedWeight < maxBatchWeight, !stopping {
                let wait = min(Self.maxWait.seconds, batchNanos / 2e9)
                let deadline = Date(timeIntervalSinceNow: wait)
                wanted = target
                while queue.count < target, queuedWeight < maxBatchWeight, !stopping, condition.wait(until: deadline) {}
                wanted = .max
            }
            if queuedWeight <= maxBatchWeight {
                swap(&batch, &queue)
                queuedWeight = 0
            } else {
                var w = 0
                var n = 0
                while n < queue.count && (n == 0 || w + weight(queue[n]) <= maxBatchWeight) {
                    w += weight(queue[n])
                    n += 1
                }
                batch.append(contentsOf: queue[0..<n])
                queue.removeFirst(n)
                queuedWeight -= w
            }
            arrivedDuringBatch = 0
            processing = true
            condition.unlock()
            let started = ContinuousClock.now
            process(batch) { completing() }
            let took = Double((ContinuousClock.now - started).wholeNanoseconds)
            batchNanos = batchNanos == 0 ? took : batchNanos * 0.875 + took * 0.125
            released = batch.count
            batch.removeAll(keepingCapacity: true)
            condition.lock()
            processing = false
            condition.unlock()
        }
        done.signal()
    }
}
