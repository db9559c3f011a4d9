import Foundation
import Logging
import Outbox

/// The outbox side: `producers` tasks appending one message per commit, as a service would; concurrent
/// appends share group commits.
enum OutboxWorkload {
    static func outboxPath(in directory: String) -> String { directory + "/outbox" }

    /// Appends only: the time until the last `append` returned, and each `append`'s latency.
    static func measure(in directory: String, messages: Int, producers: Int, payload: [UInt8], logger: Logger) async throws -> (LatencySummary, stored: Int) {
        let path = outboxPath(in: directory)
        let outbox = try await Outbox.open(at: path, logger: logger)
        let timings = PublishTimings()
        let clock = ContinuousClock()
        let start = clock.now
        try await produce(outbox, messages: messages, producers: producers, payload: payload, timings: timings)
        let elapsed = clock.now - start
        try await outbox.close()
        let stored = Int(try OutboxReader(path: path).stats().pending)
        return (LatencySummary(name: "Outbox (group commit)", operations: messages, elapsed: elapsed, latencies: timings.commitLatencies()), stored)
    }

    /// Drains the outbox at `path` (every message pending) with a relay publishing to `sink`; the time
    /// until the sink acknowledged the last message.
    static func drain(_ path: String, messages: Int, sink: any OutboxSink, sinkName: String, timeout: Duration,
                      logger: Logger) async throws -> LatencySummary {
        let timings = PublishTimings()
        let relay = relay(path, TimingSink(inner: sink, timings: timings), outbox: nil, logger: logger)
        let start = ContinuousClock.now
        try await run(relay, until: timings, acknowledged: messages, within: timeout, sinkName: sinkName, path: path) {}
        return LatencySummary(name: "relay to the sink (drain)", operations: messages, elapsed: (timings.lastPublished ?? start) - start, latencies: [])
    }

    /// Producers append while a relay publishes to `sink` as the commits land (the commits wake it): the
    /// time from the first `append` until the sink acknowledged the last message, and each message's
    /// latency from its `append` returning to the sink's acknowledgement.
    /// With `rate`, the producers append that many messages per second in all, evenly spaced, instead of
    /// as fast as they can.
    static func live(in directory: String, messages: Int, producers: Int, rate: Double?, payload: [UInt8], sink: any OutboxSink,
                     sinkName: String, timeout: Duration, logger: Logger) async throws -> LatencySummary {
        let path = directory + "/live-outbox"
        let outbox = try await Outbox.open(at: path, logger: logger)
        let timings = PublishTimings()
        let relay = relay(path, TimingSink(inner: sink, timings: timings), outbox: outbox, logger: logger)
        let start = ContinuousClock.now
        do {
            try await run(relay, until: timings, acknowledged: messages, within: timeout, sinkName: sinkName, path: path) {
                try await produce(outbox, messages: messages, producers: producers, rate: rate, payload: payload, timings: timings)
            }
        } catch {
            try? await outbox.close()
            throw error
        }
        try await outbox.close()
        return LatencySummary(name: "relay to the sink (live)", operations: messages, elapsed: (timings.lastPublished ?? start) - start,
                              latencies: timings.commitToPublishLatencies())
    }

    private static func relay(_ path: String, _ sink: TimingSink, outbox: Outbox?, logger: Logger) -> OutboxRelay {
        var config = OutboxRelayConfiguration()
        config.batchSize = 500
        return OutboxRelay(path: path, sink: sink, configuration: config, outbox: outbox, logger: logger)
    }

    /// Runs `relay` while `work` runs and then until the sink acknowledged `messages` in all; fails, naming
    /// how far it got, if that takes longer than `timeout` (a sink that cannot publish: the relay keeps
    /// retrying and its warnings say why).
    private static func run(_ relay: OutboxRelay, until timings: PublishTimings, acknowledged messages: Int, within timeout: Duration,
                            sinkName: String, path: String, _ work: () async throws -> Void) async throws {
        let deadline = ContinuousClock.now + timeout
        let task = Task { try await relay.run() }
        do {
            try await work()
            while timings.publishedCount < messages {
                guard ContinuousClock.now < deadline else {
                    throw OutboxError(.broker, "the relay published \(timings.publishedCount) of \(messages) messages to \(sinkName) within \(timeout)", path: path)
                }
                try await Task.sleep(for: .milliseconds(1))
            }
        } catch {
            task.cancel()
            _ = try? await task.value
            throw error
        }
        task.cancel()
        try await task.value
    }

    /// `producers` tasks append `messages` in all, one per `append`, and then record every commit in
    /// `timings` (each task keeps its own list while it runs, so measuring adds no lock to the appends);
    /// with `rate`, message *i* of producer *p* is appended no sooner than (i × producers + p) / rate
    /// seconds after the start.
    private static func produce(_ outbox: Outbox, messages: Int, producers: Int, rate: Double? = nil, payload: [UInt8],
                                timings: PublishTimings) async throws {
        let perProducer = splitEvenly(messages, producers)
        let start = ContinuousClock.now
        typealias Commit = (seq: UInt64, at: ContinuousClock.Instant, latency: Duration)
        try await withThrowingTaskGroup(of: [Commit].self) { group in
            for p in 0..<producers {
                group.addTask {
                    var mine: [Commit] = []
                    mine.reserveCapacity(perProducer[p])
                    for i in 0..<perProducer[p] {
                        if let rate {
                            try await Task.sleep(until: start + .seconds(Double(i * producers + p) / rate), clock: .continuous)
                        }
                        let t = ContinuousClock.now
                        let seq = try await outbox.append(OutboxMessage(type: "UserRegistered", key: "user-\((p * perProducer[p] + i) % 64)", payload: payload))
                        let now = ContinuousClock.now
                        mine.append((seq, now, now - t))
                    }
                    return mine
                }
            }
            for try await commits in group { timings.committed(commits) }
        }
    }
}
