import Foundation
import Testing
@testable import Outbox

/// ``ReconnectWatcher`` reports a broker's return (an answer after silence) once, and nothing else.
@Suite("Reconnect watcher")
struct ReconnectWatcherTests {
    /// A handshake whose answers the test sets; it counts attempts and whether it was closed.
    final class ScriptedCheck: ReachabilityCheck, Sendable {
        let answering = Shared(false)
        let attempts = Shared(0)
        let closed = Shared(0)
        func attempt(timeout: Duration) -> Bool {
            attempts.mutate { $0 += 1 }
            return answering.get()
        }
        func close() { closed.mutate { $0 += 1 } }
    }

    private func watcher(_ check: ScriptedCheck, notified: Shared<Int>) -> ReconnectWatcher {
        let observer = AvailabilityObserver()
        observer.set { if $0 == .available { notified.mutate { $0 += 1 } } }
        return ReconnectWatcher(name: "test-watch", observer: observer, pauseAfterSilence: .milliseconds(5),
                                pauseAfterAnswer: .milliseconds(5), attemptTimeout: .milliseconds(5)) { check }
    }

    @Test func aReturnAfterSilenceIsReportedOnceAndEndsTheWatch() async throws {
        let check = ScriptedCheck()
        let notified = Shared(0)
        let w = watcher(check, notified: notified)
        w.start()
        try await eventually("several unanswered attempts") { check.attempts.get() >= 5 }
        #expect(notified.get() == 0, "silence is not a return")
        check.answering.set(true)
        try await eventually("the return is reported") { notified.get() == 1 }
        try await eventually("the watch ends and closes its handshake") { !w.isWatching && check.closed.get() == 1 }
        let attempts = check.attempts.get()
        w.start()  // a new watch: the broker answers from the start, so nothing is reported
        try await eventually("the new watch tries again") { check.attempts.get() >= attempts + 5 }
        #expect(notified.get() == 1, "a broker that answers throughout has not come back")
        check.answering.set(false)
        // Two attempts more: at least one of them started after the broker went silent.
        let silentFrom = check.attempts.get()
        try await eventually("the broker goes silent") { check.attempts.get() >= silentFrom + 2 }
        check.answering.set(true)
        try await eventually("its return is reported") { notified.get() == 2 }
    }

    @Test func aStoppedWatchReportsNothing() async throws {
        let check = ScriptedCheck()
        let notified = Shared(0)
        let w = watcher(check, notified: notified)
        w.start()
        try await eventually("an unanswered attempt") { check.attempts.get() >= 2 }
        w.stop()
        try await eventually("the stopped watch ends and closes its handshake") { check.closed.get() == 1 }
        // The handshake is closed once the watch loop has ended: nothing can be reported any more.
        #expect(notified.get() == 0)
        #expect(!w.isWatching)
    }
}
