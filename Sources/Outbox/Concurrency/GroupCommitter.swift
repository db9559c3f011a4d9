import Foundation

/// A dedicated thread that takes every request waiting at the moment it wakes and hands them to
/// `process` as one batch: one `write` and one `fdatasync` serve them all (group commit).
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
    private let process: ([Request]) -> Void
    private let done = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - maxBatchWeight: a batch stops growing once its requests weigh this much (at least one
    ///     request is always taken).
    ///   - weight: the weight of a request (its bytes).
    ///   - process: handles one batch; it must complete every request it is given.
    init(name: String, maxBatchWeight: Int, weight: @escaping (Request) -> Int, process: @escaping ([Request]) -> Void) {
        self.maxBatchWeight = maxBatchWeight
        self.weight = weight
        self.process = process
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Queues `request`; false if the committer was stopped (the request was not taken).
    func submit(_ request: Request) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if stopping { return false }
        let wasEmpty = queue.isEmpty
        queue.append(request)
        queuedWeight += weight(request)
        if wasEmpty { condition.signal() }
        return true
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
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty && stopping {
                condition.unlock()
                break
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
            condition.unlock()
            process(batch)
            batch.removeAll(keepingCapacity: true)
        }
        done.signal()
    }
}
