import Foundation
import Outbox
import OutboxBench
import ServiceLifecycle
import Synchronization

/// The app of `outbox demo`, as a service beside the outbox and its relay: producers append
/// ``SampleUserRegistered`` events, the sink is taken away for a while once a third is appended, and the
/// service waits for the relay to publish them all (or `timeout`). A graceful shutdown (SIGTERM, SIGINT)
/// stops the producers after the append each is in; the group then stops the relay after its batch in
/// flight and closes the outbox.
final class DemoProducers: Service, Sendable {
    /// What the producers did.
    struct Report: Sendable {
        /// Each appended message's sequence number and id.
        var appended: [(seq: UInt64, id: MessageID)] = []
        var appendSeconds = 0.0
        /// How many messages were published when the sink went away, and for how long it was away.
        var outage: (published: Int, length: Duration)?
        /// Whether a shutdown signal stopped the demo before the relay published every message.
        var stoppedBySignal = false
    }

    private let outbox: Outbox
    private let messages: Int
    private let producers: Int
    private let timeout: Duration
    private let outage: Duration
    private let sink: OutageSink
    let timings: PublishTimings
    private let result = Mutex<Report>(Report())

    init(outbox: Outbox, messages: Int, producers: Int, timeout: Duration, outage: Duration, sink: OutageSink, timings: PublishTimings) {
        (self.outbox, self.messages, self.producers, self.timeout, self.outage, self.sink, self.timings) =
            (outbox, messages, producers, timeout, outage, sink, timings)
    }

    /// What the producers did (complete once ``run()`` returned).
    var report: Report { result.withLock { $0 } }

    func run() async throws {
        let started = ContinuousClock.now
        let outageTask = Task { try await takeTheSinkAway() }
        let progress = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(500))
                print("  appended \(timings.committedCount), published \(timings.publishedCount)")
            }
        }
        defer {
            outageTask.cancel()
            progress.cancel()
        }
        let appended = try await produce()
        let appendSeconds = (ContinuousClock.now - started).seconds
        result.withLock { ($0.appended, $0.appendSeconds) = (appended, appendSeconds) }
        if Task.isShuttingDownGracefully {
            result.withLock { $0.stoppedBySignal = true }
            print("  a shutdown signal stopped the producers after \(appended.count) appended; the relay finishes its batch in flight")
            return
        }
        print("  appended \(appended.count) in \(String(format: "%.2f", appendSeconds)) s; waiting for the relay")
        let deadline = ContinuousClock.now + timeout
        while timings.publishedCount < messages, ContinuousClock.now < deadline, !Task.isShuttingDownGracefully {
            try await Task.sleep(for: .milliseconds(5))
        }
        let signalled = Task.isShuttingDownGracefully && timings.publishedCount < messages
        if signalled { outageTask.cancel() }
        let outage = try? await outageTask.value
        result.withLock { ($0.outage, $0.stoppedBySignal) = (outage ?? nil, signalled) }
    }

    /// The producers' appends, each one's sequence number and id, until every message is appended or a
    /// graceful shutdown begins.
    private func produce() async throws -> [(seq: UInt64, id: MessageID)] {
        let (total, count) = (messages, producers)
        return try await withThrowingTaskGroup(of: [(seq: UInt64, id: MessageID)].self) { group in
            for p in 0..<count {
                group.addTask { [outbox, timings] in
                    var mine: [(seq: UInt64, id: MessageID)] = []
                    var i = p
                    while i < total, !Task.isShuttingDownGracefully {
                        // The id is chosen here (not by append) so that the demo can look for it at the sink.
                        let id = MessageID.v7()
                        let t0 = ContinuousClock.now
                        let seq = try await outbox.append(SampleUserRegistered(number: i), headers: [.init("source", "outbox-demo")], id: id)
                        let t1 = ContinuousClock.now
                        timings.committed(seq, at: t1, latency: t1 - t0)
                        mine.append((seq, id))
                        i += count
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Once a third is appended, the sink goes away for `outage` while the producers go on; returns how
    /// many were published by then and for how long it was away (nil for no outage).
    private func takeTheSinkAway() async throws -> (published: Int, length: Duration)? {
        guard outage > .zero else { return nil }
        while timings.committedCount < max(1, messages / 3) { try await Task.sleep(for: .milliseconds(1)) }
        print("  the sink goes away for \(String(format: "%.1f", outage.seconds)) s (after \(timings.committedCount) appended)")
        let published = timings.publishedCount
        sink.takeDown()
        try await Task.sleep(for: outage)
        sink.bringBack()
        print("  the sink is back")
        return (published, outage)
    }
}
