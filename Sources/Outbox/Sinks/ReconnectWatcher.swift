import Foundation

/// Notices a broker's return during an outage, for client libraries that reconnect without saying so
/// (libmosquitto, librdkafka). While started, it runs a ``ReachabilityCheck`` about once a second on a
/// thread of its own, and calls the observer once when the broker answers after not answering. The relay
/// then probes at once, instead of at its next backoff step, up to
/// ``OutboxRelayConfiguration/maxOutageBackoff`` away.
///
/// Only a return counts: a broker that answers the handshake while the sink's probe still fails (a topic
/// without a leader, say) is not reported over and over; the relay's backoff covers that case.
package final class ReconnectWatcher: @unchecked Sendable {
    private let name: String
    private let observer: AvailabilityObserver
    private let makeCheck: @Sendable () -> any ReachabilityCheck
    private let condition = NSCondition()
    private var wanted = false
    private var running = false

    private let pauseAfterSilence: Duration
    private let pauseAfterAnswer: Duration
    private let attemptTimeout: Duration

    /// - Parameters:
    ///   - pauseAfterSilence: the pause after an attempt the broker did not answer;
    ///   - pauseAfterAnswer: the pause after one it answered (while the watcher waits for it to go away
    ///     and come back);
    ///   - attemptTimeout: how long one attempt may wait for the broker.
    package init(name: String, observer: AvailabilityObserver, pauseAfterSilence: Duration = .seconds(1),
                 pauseAfterAnswer: Duration = .seconds(5), attemptTimeout: Duration = .seconds(3),
                 makeCheck: @escaping @Sendable () -> any ReachabilityCheck) {
        self.name = name
        self.observer = observer
        self.pauseAfterSilence = pauseAfterSilence
        self.pauseAfterAnswer = pauseAfterAnswer
        self.attemptTimeout = attemptTimeout
        self.makeCheck = makeCheck
    }

    /// Starts watching, unless it is watching already.
    package func start() {
        condition.lock()
        defer { condition.unlock() }
        wanted = true
        guard !running else { return }
        running = true
        let executor = BlockingExecutor(name: name)
        executor.start { [self] in watch() }
        executor.finishQueued()  // the thread ends with the watch
    }

    /// Stops watching (the thread ends after the attempt under way, if any).
    package func stop() {
        condition.lock()
        wanted = false
        condition.broadcast()
        condition.unlock()
    }

    /// Whether the watcher is watching (for tests).
    package var isWatching: Bool {
        condition.lock()
        defer { condition.unlock() }
        return wanted
    }

    private func watch() {
        let check = makeCheck()
        defer { check.close() }
        var silent = false
        while keepWatching() {
            let answered = check.attempt(timeout: attemptTimeout)
            if answered && silent {
                if finish() { observer.notify() }
                return
            }
            silent = silent || !answered
            pause(answered ? pauseAfterAnswer : pauseAfterSilence)
        }
    }

    private func keepWatching() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !wanted { running = false }
        return wanted
    }

    /// Ends the watch; whether it was still wanted.
    @discardableResult
    private func finish() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let was = wanted
        wanted = false
        running = false
        return was
    }

    private func pause(_ length: Duration) {
        let until = Date(timeIntervalSinceNow: Double(length.components.seconds) + Double(length.components.attoseconds) / 1e18)
        condition.lock()
        while wanted, condition.wait(until: until) {}
        condition.unlock()
    }
}
