import Synchronization
import Crypto
import Foundation
import Logging
import Outbox

/// `outbox bench`: the outbox doing each of its jobs against the baselines that bound it (the disk's
/// `fdatasync` floors, a lean SQLite outbox, reading the same bytes), all in one directory (so on one
/// disk) and in one run. Every scenario runs several rounds, interleaved with its baselines (which goes
/// first alternates), and reports medians and ranges; the ratios are taken within a round, because they
/// hold where absolute numbers drift.
package struct Benchmark: Sendable {
    /// Where the files go (a scratch directory is made inside and removed afterwards). Use the disk
    /// the outbox will live on: on a tmpfs `fdatasync` costs nothing and the comparison means little.
    package var directory: String
    /// Fewer rounds and smaller workloads, and no `open.5M`: under 3 minutes.
    package var quick = false
    /// Rounds per scenario (default 5, or 3 with ``quick``).
    package var rounds: Int?
    /// Multiplies every workload's size (a smoke run for tests: 0.01).
    package var scale: Double = 1
    /// Only the scenarios whose names start with one of these (all when empty).
    package var only: [String] = []
    package var payloadSize = 256
    /// Makes the sink the relay scenarios publish to; it gets a path prefix in the scratch directory,
    /// unique to the run, for sinks that write files. By default a ``FileSink`` (one `write` and one
    /// `fdatasync` per batch).
    package var makeSink: @Sendable (_ scratchPrefix: String) throws -> any OutboxSink = { try FileSink(path: $0 + ".published.jsonl") }
    /// How the report names the sink.
    package var sinkName = "a file sink"
    /// Whether ``makeSink`` is a broker (then the relay rows publish to it and are named `relay.sink.*`).
    package var brokerSink = false
    /// The broker's own client publishing the drain's messages as fast as it can (asynchronously, no
    /// outbox), when the sink is a broker that has one: a baseline of the `relay.sink.drain` rows, named
    /// `name`, which the relay should reach 0.7x of. It returns the time from the first publish to the
    /// last acknowledgement. The keyed row also gets it `inKeyOrder` (at most one message of a key
    /// unacknowledged, the relay's ordering rule), named `orderedName`: what ordering alone costs.
    package var brokerBaseline: (name: String, orderedName: String,
                                 publish: @Sendable (_ messages: [StoredMessage], _ inKeyOrder: Bool) async throws -> Duration)?
    /// How long each relay run waits for the sink to acknowledge every message before it fails.
    package var publishTimeout: Duration = .seconds(120)
    /// Told which scenario and round runs now (progress on standard error).
    package var progress: @Sendable (String) -> Void = { _ in }

    package init(directory: String) { self.directory = directory }

    package var roundCount: Int { rounds ?? (quick ? 3 : 5) }

    /// The scenarios this configuration runs, in order.
    package func scenarios(scratch: String, logger: Logger) -> [Scenario] {
        let payload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 131) }
        func size(_ full: Int, _ quick: Int) -> Int { max(1, Int(Double(self.quick ? quick : full) * scale)) }
        let record = FrameHeader.size + ((try? MessageCodec.encode([OutboxMessage(type: "UserRegistered", key: "user-1", payload: payload)],
                                                                   compressionThreshold: nil, maxBody: .max, clock: OutboxClock.system.now()).count)
                                               ?? payloadSize + 80 + MessageCodec.clockSize)
        let (timeout, makeSink, sinkName) = (publishTimeout, self.makeSink, self.sinkName)
        var all: [Scenario] = []
        /// A floor of ``FsyncFloor`` on its own thread: `commits` writes of `records` records each,
        /// counted as that many messages.
        func floor(_ style: FsyncFloor.Style, commits: Int, records: Int = 1) -> Scenario.Run {
            { _ in
                var m = try await onDedicatedThread("outbox-bench-floor") {
                    try FsyncFloor.measure(style, in: scratch, commits: commits, recordSize: record * records) }
                m.operations *= records
                return m
            }
        }

        let single = size(2000, 600)
        all.append(Scenario(
            name: "commit.single", what: "1 producer, 1 message per commit",
            outbox: { _ in try await OutboxWorkload.commit(in: scratch, messages: single, producers: 1, perCommit: 1, payload: payload, logger: logger) },
            baselines: [
                ("floor.append", floor(.append, commits: single)),
                ("floor.preallocated", floor(.preallocated, commits: single)),
                ("floor.handoff", floor(.handoff, commits: single)),
            ],
            goals: [.ratioAtLeast(1.0, vs: "floor.append"), .ratioAtLeast(0.8, vs: "floor.preallocated")]))

        for n in [4, 16, 64] {
            let messages = size(20_000, 6000)
            let sqlite = size(2000, 800)
            let floorCommits = size(1000, 300)
            var goals: [Scenario.Goal] = [.perSyncAtLeast(0.85 * Double(n))]
            if n == 16 { goals.append(.ratioAtLeast(10, vs: "sqlite")) }
            all.append(Scenario(
                name: "commit.concurrent\(n)", what: "\(n) producers, 1 message per commit",
                outbox: { _ in try await OutboxWorkload.commit(in: scratch, messages: messages, producers: n, perCommit: 1, payload: payload, logger: logger) },
                baselines: [
                    ("sqlite", { _ in try await SQLiteOutbox.commit(in: scratch, messages: sqlite, producers: n, perCommit: 1, payload: payload) }),
                    ("floor.append", floor(.append, commits: floorCommits)),
                ],
                goals: goals))
        }

        // Typed events against the same workload of byte payloads, in the same round.
        let typedMessages = size(20_000, 6000)
        all.append(Scenario(
            name: "commit.codable16", what: "16 producers, 1 typed event (a small Codable struct, JSON) per commit",
            outbox: { _ in try await OutboxWorkload.commit(in: scratch, messages: typedMessages, producers: 16, perCommit: 1, payload: payload, typed: true,
                                                         logger: logger) },
            baselines: [
                ("commit.concurrent16", { _ in try await OutboxWorkload.commit(in: scratch, messages: typedMessages, producers: 16, perCommit: 1,
                                                                               payload: payload, logger: logger) }),
            ],
            goals: [.ratioAtLeast(0.9, vs: "commit.concurrent16")]))

        let batches = size(300, 100)
        all.append(Scenario(
            name: "commit.batch100", what: "1 producer, 100 messages per commit",
            outbox: { _ in try await OutboxWorkload.commit(in: scratch, messages: batches * 100, producers: 1, perCommit: 100, payload: payload, logger: logger) },
            baselines: [
                // Each write carries 100 records, counted as 100 messages.
                ("floor.append×100", floor(.append, commits: batches, records: 100)),
                ("sqlite", { _ in try await SQLiteOutbox.commit(in: scratch, messages: batches * 100, producers: 1, perCommit: 100, payload: payload) }),
            ],
            goals: [.ratioAtLeast(0.9, vs: "floor.append×100")]))

        let backlog = size(200_000, 50_000)
        let brokerBaseline = brokerSink ? self.brokerBaseline : nil
        for keyed in [true, false] {
            var baselines: [(name: String, run: Scenario.Run)] = [
                ("sqlite.drain", { _ in try await SQLiteOutbox.drain(in: scratch, rows: backlog, batch: 100, keyed: keyed, payload: payload) }),
                // The relay's own batch cap (1,000), for comparison at equal batch sizes.
                ("sqlite.drain1000", { _ in try await SQLiteOutbox.drain(in: scratch, rows: backlog, batch: 1000, keyed: keyed, payload: payload) }),
            ]
            var goals: [Scenario.Goal] = brokerSink ? [] : [.ratioAtLeast(1.0, vs: "sqlite.drain")]
            if let (name, orderedName, publish) = brokerBaseline {
                func run(inKeyOrder: Bool) -> Scenario.Run {
                    { _ in
                        // Fresh message ids every round: the broker's deduplication must not drop them.
                        let messages = (0..<backlog).map { i in
                            StoredMessage(seq: UInt64(i + 1), message: OutboxMessage(id: .v7(), type: "UserRegistered", key: keyed ? "user-\(i % 64)" : nil, payload: payload),
                                          segment: "", offset: 0, compressed: false)
                        }
                        return BenchSample(operations: backlog, elapsed: try await publish(messages, inKeyOrder))
                    }
                }
                baselines.insert((name: name, run: run(inKeyOrder: false)), at: 0)
                if keyed { baselines.insert((name: orderedName, run: run(inKeyOrder: true)), at: 1) }
                goals = [.ratioAtLeast(0.7, vs: name)]
            }
            let name = (brokerSink ? "relay.sink.drain." : "relay.drain.") + (keyed ? "keyed" : "keyless")
            all.append(Scenario(
                name: name, what: "\(backlog) pending \(keyed ? "with 64 keys" : "without keys") to \(sinkName), default relay settings",
                outbox: { round in
                    let path = scratch + "/drain-\(keyed)-\(round)"
                    defer { try? FileManager.default.removeItem(atPath: path) }
                    try await OutboxWorkload.backlog(at: path, messages: backlog, keyed: keyed, payload: payload, logger: logger)
                    let sink = try makeSink(path + "-sink")
                    defer { try? FileManager.default.removeItem(atPath: path + "-sink.published.jsonl") }
                    return try await OutboxWorkload.drain(path, messages: backlog, sink: sink, sinkName: sinkName, timeout: timeout, logger: logger)
                },
                baselines: baselines,
                goals: goals))
        }

        if !brokerSink {
            // Encryption at rest (FORMAT.md §10): the same workloads with a key, against themselves without
            // one in the same round.
            let keys = try? OutboxKeys([[UInt8](repeating: 0x5A, count: 32)])
            let cipher = "\(Envelope.Cipher.preferred.name) (\(Envelope.Cipher.preferred == .aesGCM ? "the CPU has AES instructions" : "no AES instructions"))"
            let messages16 = size(20_000, 6000)
            func commit16(_ keys: OutboxKeys?) -> Scenario.Run {
                { _ in try await OutboxWorkload.commit(in: scratch, messages: messages16, producers: 16, perCommit: 1, payload: payload, keys: keys, logger: logger) }
            }
            func batch100(_ keys: OutboxKeys?) -> Scenario.Run {
                { _ in try await OutboxWorkload.commit(in: scratch, messages: batches * 100, producers: 1, perCommit: 100, payload: payload, keys: keys, logger: logger) }
            }
            func drainKeyed(_ keys: OutboxKeys?) -> Scenario.Run {
                { round in
                    let path = scratch + "/drain-encrypted-\(keys != nil)-\(round)"
                    defer { try? FileManager.default.removeItem(atPath: path) }
                    try await OutboxWorkload.backlog(at: path, messages: backlog, keyed: true, payload: payload, keys: keys, logger: logger)
                    let sink = try makeSink(path + "-sink")
                    defer { try? FileManager.default.removeItem(atPath: path + "-sink.published.jsonl") }
                    return try await OutboxWorkload.drain(path, messages: backlog, sink: sink, sinkName: sinkName, timeout: timeout, keys: keys, logger: logger)
                }
            }
            // The floor of the concurrent row: the plain workload with one call of swift-crypto's seal (the
            // cipher the outbox uses, a throwaway key) per commit in each producer, and each record 16 bytes
            // longer (the tag): the least any design sealing each frame with that API adds.
            let floorKey = SymmetricKey(size: .bits256)
            let floorCalls = Atomic<UInt64>(0)
            let sealCall: @Sendable ([UInt8]) -> Void = { record in
                var nonce = [UInt8](repeating: 0, count: 12)
                let n = floorCalls.add(1, ordering: .relaxed).newValue
                withUnsafeBytes(of: n.littleEndian) { for i in 0..<8 { nonce[i] = $0[i] } }
                if Envelope.Cipher.preferred == .aesGCM {
                    _ = try? AES.GCM.seal(record, using: floorKey, nonce: try! AES.GCM.Nonce(data: nonce), authenticating: nonce)
                } else {
                    _ = try? ChaChaPoly.seal(record, using: floorKey, nonce: try! ChaChaPoly.Nonce(data: nonce), authenticating: nonce)
                }
            }
            let floorSeal: Scenario.Run = { _ in
                try await OutboxWorkload.commit(in: scratch, messages: messages16, producers: 16, perCommit: 1, payload: payload + [UInt8](repeating: 0, count: 16),
                                                alongside: sealCall, logger: logger)
            }
            for (name, what, run) in [("encrypted.commit.concurrent16", "16 producers, 1 message per commit", commit16),
                                      ("encrypted.commit.batch100", "1 producer, 100 messages per commit", batch100),
                                      ("encrypted.relay.drain.keyed", "\(backlog) pending with 64 keys to \(sinkName)", drainKeyed)] {
                let floor: [(String, Scenario.Run)] = name == "encrypted.commit.concurrent16" ? [("floor.seal", floorSeal)] : []
                all.append(Scenario(name: name, what: "\(what), sealed with \(cipher)", outbox: run(keys), baselines: [("plain", run(nil))] + floor,
                                    goals: [.ratioAtLeast(0.9, vs: "plain")]))
            }

            // Three routes over one outbox, each publishing every message to a file of its own, against
            // one route draining the same backlog: the messages are stored and read once per route.
            func routesRun(_ count: Int) -> Scenario.Run {
                { round in
                    let path = scratch + "/routes\(count)-\(round)"
                    defer { try? FileManager.default.removeItem(atPath: path) }
                    try await OutboxWorkload.backlog(at: path, messages: backlog, keyed: true, payload: payload, logger: logger)
                    let sinks = try (0..<count).map { try makeSink(path + "-sink\($0)") }
                    defer { for i in 0..<count { try? FileManager.default.removeItem(atPath: path + "-sink\(i).published.jsonl") } }
                    return try await OutboxWorkload.drainRoutes(path, messages: backlog, sinks: sinks, sinkName: sinkName, timeout: timeout,
                                                                logger: logger)
                }
            }
            // The floor: three sinks publishing the same messages at once, no outbox, against one alone.
            func floorRun(_ count: Int) -> Scenario.Run {
                { round in
                    let prefix = scratch + "/sinks\(count)-\(round)"
                    let sinks = try (0..<count).map { try makeSink(prefix + "-\($0)") }
                    defer { for i in 0..<count { try? FileManager.default.removeItem(atPath: prefix + "-\(i).published.jsonl") } }
                    return try await OutboxWorkload.publishAlone(messages: backlog, sinks: sinks, payload: payload)
                }
            }
            all.append(Scenario(
                name: "relay.routes3", what: "\(backlog) pending with 64 keys, three routes each taking every message to \(sinkName); rate per route",
                outbox: routesRun(3),
                baselines: [("relay.route1", routesRun(1)), ("floor.sinks3", floorRun(3)), ("floor.sink1", floorRun(1))],
                goals: [.ratioAtLeast(0.8, vs: "relay.route1")]))
        }

        let live = size(20_000, 5000)
        all.append(Scenario(
            name: brokerSink ? "relay.sink.live" : "relay.live",
            what: "16 producers appending while a relay publishes to \(sinkName); latency from append to acknowledgement",
            outbox: { round in
                let sink = try makeSink(scratch + "/live-\(round)")
                defer { try? FileManager.default.removeItem(atPath: scratch + "/live-\(round).published.jsonl") }
                return try await OutboxWorkload.live(in: scratch, messages: live, producers: 16, payload: payload, sink: sink,
                                                     sinkName: sinkName, timeout: timeout, logger: logger)
            }))

        // Lanes after an outage (issue 28): a backlog of 1M bulk messages drains through a 64 kbit/s cap
        // while a critical message comes every second; a window of 60 s of the drain (30 s quick).
        let lanesBacklog = max(1, Int(1_000_000 * scale))
        let lanesPath = scratch + "/lanes"
        let window: Duration = scale < 1 ? .seconds(3) : .seconds(quick ? 30 : 60)
        all.append(Scenario(
            name: "lanes.outage",
            what: "\(lanesBacklog) bulk messages pending, a critical one every second, through a 64 kbit/s cap for \(window); bytes per second on the link",
            metric: .bytesPerSecond,
            outbox: { _ in try await LanesOutage.round(lanesPath, window: window, interval: .seconds(1), payload: payload, logger: logger) },
            goals: [.p99AtMost(2000),
                    .figure("linkUse", 0.95...1.05, what: "link use within 5% of the cap (at least 90%)"),
                    .figure("laneShareMin", 0.95...Double.infinity, what: "every lane at least its weighted share (-5%)"),
                    .figure("orderViolations", 0...0, what: "no order violation within a lane"),
                    .figure("peakRSSMiB", 0...64, what: "peak RSS ≤ 64 MiB")],
            prepare: { try await LanesOutage.prepare(at: lanesPath, messages: lanesBacklog, payload: payload, logger: logger) }))

        for (label, count) in quick ? [("1M", 1_000_000)] : [("1M", 1_000_000), ("5M", 5_000_000)] {
            let messages = max(1, Int(Double(count) * scale))
            let path = scratch + "/open-\(label)"
            all.append(Scenario(
                name: "open.\(label)", what: "writer open with \(messages) pending (cold where the page cache can be dropped)", metric: .seconds,
                outbox: { _ in try await OutboxWorkload.open(path, logger: logger) },
                baselines: [("read.all", { _ in try await OutboxWorkload.readAll(path) })],
                goals: [.below(0.2)],
                prepare: { try await OutboxWorkload.backlog(at: path, messages: messages, keyed: true, payload: payload, logger: logger) }))
        }

        for n in [1, 16] {
            // Long enough (8 MiB of frames at one producer) that the active segment's zero-fill runs at its
            // full step: its first steps are smaller (FORMAT.md §6), and what a short run leaves allocated
            // ahead of its last frame is a larger share of what it wrote.
            let messages = n == 1 ? size(25_000, 400) : size(16_000, 4000)
            let sqlite = min(messages, size(2000, 800))
            all.append(Scenario(
                name: "writeAmplification.\(n)", what: "device bytes per payload byte, \(n) producer\(n == 1 ? "" : "s"), 1 message per commit",
                metric: .amplification,
                outbox: { _ in try await OutboxWorkload.commit(in: scratch, messages: messages, producers: n, perCommit: 1, payload: payload, logger: logger) },
                baselines: [
                    ("sqlite", { _ in
                        try await SQLiteOutbox.commit(in: scratch, messages: sqlite, producers: n,
                                                      perCommit: 1, payload: payload) }),
                    // The physical floor: the bytes of n records written as one pwrite + fdatasync into a
                    // zero-filled file (what one group commit of n producers writes), per payload byte. Each
                    // sync writes whole 4 KiB pages, the partly filled last one again at the next commit.
                    ("floor.pages", { _ in
                        let commits = max(1, messages / n)
                        var m = try await onDedicatedThread("outbox-bench-floor") {
                            try FsyncFloor.measure(.preallocated, in: scratch, commits: commits, recordSize: record * n) }
                        m.payloadBytes = Int64(commits * n * payload.count)
                        return m
                    }),
                ],
                goals: [.below(n == 1 ? 20 : 2)]))
        }
        return all.filter { s in only.isEmpty || only.contains { s.name.hasPrefix($0) } }
    }

    package func run(logger: Logger) async throws -> [ScenarioResult] {
        let scratch = directory + "/outbox-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(scratch, 0o700) == 0 else {
            throw OutboxError(.invalidArgument, "cannot make a scratch directory for the benchmark here", path: directory, errno: errno)
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let scenarios = scenarios(scratch: scratch, logger: logger)
        guard !scenarios.isEmpty else { throw OutboxError(.invalidArgument, "no scenario matches --only \(only.joined(separator: ","))") }
        var results = scenarios.map { ScenarioResult(name: $0.name, what: $0.what, metric: $0.metric, outbox: [],
                                                     baselines: $0.baselines.map { ($0.name, []) }, goals: $0.goals) }
        for s in scenarios where s.prepare != nil {
            progress("preparing \(s.name)")
            try await s.prepare?()
        }
        for round in 0..<roundCount {
            for (i, s) in scenarios.enumerated() {
                progress("round \(round + 1)/\(roundCount): \(s.name)")
                // Which runs first alternates by round, so a disk that speeds up or slows down during a
                // round favours neither side.
                if round % 2 == 0 { results[i].outbox.append(try await s.outbox(round)) }
                for (b, baseline) in s.baselines.enumerated() { results[i].baselines[b].runs.append(try await baseline.run(round)) }
                if round % 2 == 1 { results[i].outbox.append(try await s.outbox(round)) }
            }
        }
        return results
    }
}
