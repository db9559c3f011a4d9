#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Outbox

/// The outbox's side of each scenario.
enum OutboxWorkload {
    /// `producers` tasks append `messages` in all to a fresh outbox, `perCommit` per `append`, as a
    /// service would (concurrent appends share group commits): each commit's latency, the counted
    /// `fdatasync`s and the device bytes.
    /// `alongside`, when given, is called by the producer before each commit with the commit's first
    /// payload (a floor's extra work).
    static func commit(in directory: String, messages: Int, producers: Int, perCommit: Int, payload: [UInt8], keys: OutboxKeys? = nil,
                       alongside: (@Sendable ([UInt8]) -> Void)? = nil, typed: Bool = false, logger: Logger) async throws -> BenchSample {
        let path = directory + "/commit-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let calls = CountingSystemCalls()
        var configuration = OutboxConfiguration()
        configuration.systemCalls = calls
        configuration.keys = keys
        let outbox = try await Outbox.open(at: path, configuration: configuration, logger: logger)
        let device = DeviceCounter.start(in: directory)
        let syncsBefore = calls.fdatasyncs
        let parts = splitEvenly(messages, producers)
        // The typed events are made before the clock starts: the row measures what the outbox does with
        // them (encoding included), as the byte payload of the others is made once.
        let typedEvents = typed ? parts.enumerated().map { p, count in (0..<count).map { SampleUserRegistered(number: p * count + $0) } } : []
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for (p, count) in parts.enumerated() {
                let events = typed ? typedEvents[p] : []
                group.addTask {
                    var mine: [Duration] = []
                    mine.reserveCapacity(count / perCommit + 1)
                    var i = 0
                    while i < count {
                        let n = min(perCommit, count - i)
                        if typed {
                            // A small Codable struct per commit, encoded by the outbox (JSON), as an app appends it.
                            let t = clock.now
                            if n == 1 { try await outbox.append(events[i]) } else { try await outbox.append(contentsOf: Array(events[i..<(i + n)])) }
                            mine.append(clock.now - t)
                            i += n
                            continue
                        }
                        let batch = (0..<n).map { OutboxMessage(type: "UserRegistered", key: "user-\((p * count + i + $0) % 64)", payload: payload) }
                        let t = clock.now
                        alongside?(payload)
                        try await outbox.append(contentsOf: batch)
                        mine.append(clock.now - t)
                        i += n
                    }
                    return mine
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = clock.now - start
        let syncs = calls.fdatasyncs - syncsBefore
        try await outbox.close()
        let deviceBytes = device?.end()
        let stored = try OutboxReader(path: path, keys: keys).stats().pending
        guard stored == UInt64(messages) else { throw OutboxError(.io, "the outbox holds \(stored) messages of \(messages)", path: path) }
        return BenchSample(operations: messages, elapsed: elapsed, latencies: latencies, fdatasyncs: syncs,
                           deviceBytes: deviceBytes, payloadBytes: Int64(messages * payload.count))
    }

    /// Fills a fresh outbox at `path` with `messages` pending messages, 1,000 per commit (keys `user-0`
    /// to `user-63`, or none).
    static func backlog(at path: String, messages: Int, keyed: Bool, payload: [UInt8], lane: OutboxLane = .normal, keys: OutboxKeys? = nil,
                        logger: Logger) async throws {
        try await onDedicatedThread("outbox-bench-fill") {
            var configuration = OutboxConfiguration()
            configuration.keys = keys
            let outbox = try Outbox(openingAt: path, configuration: configuration, logger: logger)
            var i = 0
            while i < messages {
                let n = min(1000, messages - i)
                try outbox.appendBlocking(contentsOf: (i..<(i + n)).map {
                    OutboxMessage(type: "UserRegistered", key: keyed ? "user-\($0 % 64)" : nil, payload: payload, lane: lane)
                })
                i += n
            }
            try outbox.closeBlocking()
        }
    }

    /// A relay with the default configuration drains the outbox at `path` (`messages` pending) to
    /// `sink`: the time from its start until the sink acknowledged the last message.
    static func drain(_ path: String, messages: Int, sink: any OutboxSink, sinkName: String, timeout: Duration, keys: OutboxKeys? = nil,
                      logger: Logger) async throws -> BenchSample {
        let counting = CountingSink(inner: sink)
        var configuration = OutboxRelayConfiguration()
        configuration.keys = keys
        let relay = OutboxRelay(path: path, sink: counting, configuration: configuration, logger: logger)
        let start = ContinuousClock.now
        try await run(relay, within: timeout, sinkName: sinkName, path: path, until: { counting.published >= messages },
                      progress: { "\(counting.published) of \(messages)" }) {}
        return BenchSample(operations: messages, elapsed: (counting.lastPublished ?? start) - start)
    }

    /// A relay with three routes, each taking every message, drains the outbox at `path` (`messages`
    /// pending) to `sinks`: the time from its start until every route's sink acknowledged the last
    /// message (each route publishes every message: the rate is per route).
    static func drainRoutes(_ path: String, messages: Int, sinks: [any OutboxSink], sinkName: String, timeout: Duration,
                            logger: Logger) async throws -> BenchSample {
        let counting = sinks.map { CountingSink(inner: $0) }
        let routes = counting.enumerated().map { OutboxRoute(name: "route\($0.offset + 1)", sink: $0.element) }
        let relay = OutboxRelay(path: path, routes: routes, logger: logger)
        let start = ContinuousClock.now
        try await run(relay, within: timeout, sinkName: sinkName, path: path, until: { counting.allSatisfy { $0.published >= messages } },
                      progress: { counting.map { "\($0.published)" }.joined(separator: ", ") + " of \(messages)" }) {}
        return BenchSample(operations: messages, elapsed: (counting.compactMap(\.lastPublished).max() ?? start) - start)
    }

    /// The floor of several routes: `sinks` each publish the same `messages` (held in memory, in batches
    /// of the relay's 1,000) at once, with no outbox: what the sinks and the machine allow per sink.
    static func publishAlone(messages: Int, sinks: [any OutboxSink], payload: [UInt8]) async throws -> BenchSample {
        let batches = stride(from: 0, to: messages, by: 1000).map { first in
            (first..<min(messages, first + 1000)).map { i in
                StoredMessage(seq: UInt64(i + 1), message: OutboxMessage(type: "UserRegistered", key: "user-\(i % 64)", payload: payload),
                              segment: "", offset: 0, compressed: false)
            }
        }
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sink in sinks {
                group.addTask {
                    for batch in batches where await sink.publish(batch).contains(where: { $0 != .published }) {
                        throw OutboxError(.io, "the sink failed a batch")
                    }
                }
            }
            try await group.waitForAll()
        }
        return BenchSample(operations: messages, elapsed: ContinuousClock.now - start)
    }

    /// Producers append `messages` (one per commit) while a relay in the same process publishes them to
    /// `sink`: messages per second from the first `append` to the last acknowledgement, and each
    /// message's latency from its `append` returning to the sink's acknowledgement (including the queue
    /// that builds up when producers outpace the relay).
    static func live(in directory: String, messages: Int, producers: Int, payload: [UInt8], sink: any OutboxSink,
                     sinkName: String, timeout: Duration, logger: Logger) async throws -> BenchSample {
        let path = directory + "/live-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outbox = try await Outbox.open(at: path, logger: logger)
        let timings = PublishTimings()
        let relay = OutboxRelay(path: path, sink: TimingSink(inner: sink, timings: timings), outbox: outbox, logger: logger)
        let start = ContinuousClock.now
        do {
            try await run(relay, within: timeout, sinkName: sinkName, path: path, until: { timings.publishedCount >= messages },
                          progress: { "\(timings.publishedCount) of \(messages)" }) {
                try await produce(outbox, messages: messages, producers: producers, payload: payload, timings: timings)
            }
        } catch {
            try? await outbox.close()
            throw error
        }
        try await outbox.close()
        return BenchSample(operations: messages, elapsed: (timings.lastPublished ?? start) - start, latencies: timings.commitToPublishLatencies())
    }

    /// Opens the outbox at `path` for writing (recovery included) and closes it, after dropping the page
    /// cache where allowed.
    static func open(_ path: String, logger: Logger) async throws -> BenchSample {
        let cold = dropCaches()
        let elapsed = try await onDedicatedThread("outbox-bench-open") {
            let clock = ContinuousClock()
            let start = clock.now
            let outbox = try Outbox(openingAt: path, logger: logger)
            let elapsed = clock.now - start
            try outbox.closeBlocking()
            return elapsed
        }
        var m = BenchSample(operations: 1, elapsed: elapsed)
        m.cold = cold
        return m
    }

    /// Reads every file of the outbox at `path` once, sequentially, after dropping the page cache where
    /// allowed: what reading the backlog's bytes costs.
    static func readAll(_ path: String) async throws -> BenchSample {
        let cold = dropCaches()
        let elapsed = try await onDedicatedThread("outbox-bench-read") {
            let clock = ContinuousClock()
            let start = clock.now
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() {
                let fd = Glibc.open(path + "/" + name, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
            }
            return clock.now - start
        }
        var m = BenchSample(operations: 1, elapsed: elapsed)
        m.cold = cold
        return m
    }

    /// Writes back dirty pages and drops the page cache (root only); false where not allowed.
    static func dropCaches() -> Bool {
        sync()
        let fd = Glibc.open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return write(fd, "3\n", 2) == 2
    }

    /// Runs `relay` while `work` runs and then until `done`; fails, naming how far it got, if that takes
    /// longer than `timeout` (a sink that cannot publish: the relay keeps retrying and its warnings say why).
    private static func run(_ relay: OutboxRelay, within timeout: Duration, sinkName: String, path: String, until done: () -> Bool,
                            progress: () -> String, _ work: () async throws -> Void) async throws {
        let deadline = ContinuousClock.now + timeout
        let stopped = Shared<String?>(nil)
        let task = Task {
            do { try await relay.run() } catch {
                stopped.set("\(error)")
                throw error
            }
            stopped.set("it returned")
        }
        do {
            try await work()
            while !done() {
                if let why = stopped.get() {
                    throw OutboxError(.broker, "the relay stopped after it published \(progress()) messages to \(sinkName): \(why)", path: path)
                }
                guard ContinuousClock.now < deadline else {
                    throw OutboxError(.broker, "the relay published \(progress()) messages to \(sinkName) within \(timeout)", path: path)
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
    /// `timings` (each task keeps its own list while it runs, so measuring adds no lock to the appends).
    private static func produce(_ outbox: Outbox, messages: Int, producers: Int, payload: [UInt8], timings: PublishTimings) async throws {
        let perProducer = splitEvenly(messages, producers)
        typealias Commit = (seq: UInt64, at: ContinuousClock.Instant, latency: Duration)
        try await withThrowingTaskGroup(of: [Commit].self) { group in
            for p in 0..<producers {
                group.addTask {
                    var mine: [Commit] = []
                    mine.reserveCapacity(perProducer[p])
                    for i in 0..<perProducer[p] {
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
