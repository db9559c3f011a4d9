import Foundation
import Testing
@testable import Outbox

@Suite("Relay")
struct RelayTests {
    @Test func inProcessRelayDeliversEveryMessageInKeyOrder() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 8 << 10), logger: quietLogger)
        let sink = RecordingSink()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in 0..<8 {
                    group.addTask { for i in 0..<250 { try await outbox.append(sampleMessage(p * 1000 + i, key: "k\(i % 13)")) } }
                }
                try await group.waitForAll()
            }
            try await eventually("all 2000 published") { sink.published.count >= 2000 }
            try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        let published = sink.published
        #expect(Set(published.map(\.seq)) == Set(1...2000))
        #expect(published.count == 2000, "no duplicates without crashes")
        #expect(perKeyOrderHolds(published.map { ($0.message.key, $0.seq) }))
        try await outbox.close()
    }

    /// A relay start opens the outbox directory once (and finds the outbox's id once) for its tombstone
    /// log, its reader, its tail and its status file; a relay built from the writer's opened outbox opens
    /// it not at all.
    @Test func aRelayStartOpensTheDirectoryOnce() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = RecordingCalls()
        var writerConfig = configuration()
        writerConfig.systemCalls = calls
        let outbox = try await Outbox.open(at: dir, configuration: writerConfig, logger: quietLogger)
        for i in 0..<20 { try await outbox.append(sampleMessage(i)) }
        var config = relayConfiguration()
        config.systemCalls = calls
        func opens() -> Int { calls.directoryOpens.filter { $0 == dir }.count }
        for (opened, expected) in [(nil, 20), (outbox.opened, 1)] as [(OpenedOutbox?, Int)] {
            let before = opens()
            let sink = RecordingSink()
            let relay = opened.map { OutboxRelay(outbox: $0, sink: sink, configuration: config, writer: outbox, logger: quietLogger) }
                ?? OutboxRelay(path: dir, sink: sink, configuration: config, logger: quietLogger)
            try await running(relay) {
                try await eventually("\(expected) published") { sink.published.count >= expected }
            }
            #expect(opens() - before == (opened == nil ? 1 : 0), "the relay opened \(dir) \(opens() - before) times")
            try await outbox.append(sampleMessage(100 + expected))  // pending for the next relay
        }
        try await outbox.close()
    }

    @Test func aWriterInAnotherProcessWakesTheRelayThroughInotify() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let created = try await runOutbox(["append", dir, "--count", "1"])
        #expect(created.status == 0)
        let sink = RecordingSink()
        // The sweep is an hour away and there is no in-process writer: only inotify can wake the relay.
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), logger: quietLogger)
        try await running(relay) {
            try await eventually("relay active") { relay.isActive }
            let append = try await runOutbox(["append", dir, "--count", "1000", "--concurrency", "4", "--keys", "20"])
            #expect(append.status == 0, "\(append.stderr)")
            // The sweep is an hour away: anything well under that is inotify's doing (a loaded CI machine,
            // running every suite at once, has taken more than 10 s here).
            try await eventually("all 1001 published", timeout: .seconds(120)) { sink.published.count >= 1001 }
        }
        #expect(Set(sink.published.map(\.seq)) == Set(1...1001))
        #expect(perKeyOrderHolds(sink.published.map { ($0.message.key, $0.seq) }))
    }

    @Test func aSinkFailingNowAndThenIsRetriedWithBackoffUntilItSucceeds() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        // Every third message fails twice before it goes through.
        let sink = RecordingSink { m, attempt in m.seq % 3 == 0 && attempt <= 2 ? .failed("broker busy") : .published }
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(maxAttempts: 5), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            for i in 1...90 { try await outbox.append(sampleMessage(i, key: "k\(i % 4)")) }
            try await eventually("all 90 published") { sink.published.count >= 90 }
        }
        #expect(sink.published.count == 90)
        for seq in stride(from: UInt64(3), through: 90, by: 3) { #expect(sink.attempts(seq) == 3) }
        #expect(perKeyOrderHolds(sink.published.map { ($0.message.key, $0.seq) }))
        #expect(try OutboxReader(path: dir).deadLetters().isEmpty)
        try await outbox.close()
    }

    @Test func aPoisonKeyDeadLettersWhileOtherKeysKeepFlowingAndCanBeRedriven() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let healed = Shared(false)
        let sink = RecordingSink { m, _ in
            m.message.key == "poison" && !healed.get() ? .failed("schema mismatch") : .published
        }
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(maxAttempts: 3), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            for i in 1...60 { try await outbox.append(sampleMessage(i, key: i % 6 == 0 ? "poison" : "k\(i % 5)")) }
            try await eventually("the 50 good messages published") { sink.published.count >= 50 }
            try await eventually("the 10 poison messages dead-lettered") { try OutboxReader(path: dir).deadLetters().count == 10 }
            let dead = try OutboxReader(path: dir).deadLetters()
            #expect(dead.map(\.seq) == stride(from: 6, through: 60, by: 6).map { UInt64($0) })
            #expect(dead.allSatisfy { $0.attempts == 3 && $0.lastError == "schema mismatch" && !$0.redriven })
            #expect(dead.first?.message == (try OutboxReader(path: dir).messages(from: 6, limit: 1).first?.message))
            try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
            #expect(try OutboxReader(path: dir).stats().dead == 10)

            healed.set(true)
            // The writer holds its lock and the relay runs: the request goes through the dead-letter file.
            let requested = try OutboxReader(path: dir).requestRedrive([6, 12])
            #expect(requested == [6, 12])
            try await eventually("the redriven messages published") { sink.published.count >= 52 }
            let republished = Array(sink.published.suffix(2))
            #expect(republished.map(\.seq) == [6, 12], "republished under their original sequence numbers")
            #expect(republished.map(\.message.id) == Array(dead.prefix(2).map(\.message.id)), "and ids")
            try await eventually("marked redriven") { try OutboxReader(path: dir).deadLetters().filter(\.redriven).map(\.seq) == [6, 12] }
        }
        let after = try OutboxReader(path: dir).deadLetters()
        #expect(after.count == 10, "one dead letter per sequence number")
        #expect(after.filter(\.redriveRequested).isEmpty)
        #expect(try OutboxReader(path: dir).requestRedrive([6]) == [], "a dead letter is redriven once")
        #expect(try OutboxReader(path: dir).stats().pending == 0, "a redrive appends nothing")
        try await outbox.close()
    }

    /// `outbox dead-letters D redrive` while a writer holds the writer lock and a relay runs in another
    /// process; a message that dies again gets a new dead letter.
    @Test func theToolRedrivesWhileTheWriterAndTheRelayRun() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let healed = Shared(false)
        let sink = RecordingSink { m, _ in m.message.key == "poison" && !healed.get() ? .rejected("schema mismatch") : .published }
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            for i in 1...10 { try await outbox.append(sampleMessage(i, key: i % 5 == 0 ? "poison" : "k")) }
            try await eventually("two dead") { try OutboxReader(path: dir).stats().dead == 2 }
            // Still poisoned: the relay republishes seq 5, the sink rejects it again.
            let first = try await runOutbox(["dead-letters", dir, "redrive", "--seq", "5"])
            #expect(first.status == 1, "\(first.stderr)")
            #expect(first.stderr.contains("failed again"), "\(first.stderr)")
            healed.set(true)
            let second = try await runOutbox(["dead-letters", dir, "redrive"])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stderr.contains("republished 2 of 2"), "\(second.stderr)")
            let list = try await runOutbox(["dead-letters", dir, "list", "--json"])
            let statuses = list.stdout.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["status"] as? String
            }
            #expect(statuses == ["redriven", "redriven"], "\(list.stdout)")
        }
        #expect(sink.attempts(5) == 3 && sink.attempts(10) == 2)
        try await outbox.close()
    }

    @Test func aCommitWrittenButNotYetDurableIsNotPublished() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let writerCalls = FaultInjectingCalls()
        let relayCalls = FaultInjectingCalls()
        let outbox = try await Outbox.open(at: dir, configuration: configuration(sys: writerCalls), logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let sink = RecordingSink()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(sys: relayCalls), logger: quietLogger)
        try await running(relay) {
            try await eventually("the first message published") { sink.published.count == 1 }
            relayCalls.fdatasyncGate.close()
            writerCalls.fdatasyncGate.close()
            // The writer writes the frame, then waits before fdatasync (the gates hold segment syncs only).
            let append = Task { try await outbox.append(sampleMessage(2)) }
            // inotify wakes the relay on the write; it reads the frame and must make it durable first.
            try await eventually("the relay read the frame and waits in its own fdatasync") { relayCalls.fdatasyncGate.waiting >= 1 }
            #expect(sink.published.count == 1, "nothing published before the frame is durable")
            relayCalls.fdatasyncGate.release()
            try await eventually("published once durable") { sink.published.count == 2 }
            writerCalls.fdatasyncGate.release()
            #expect(try await append.value == 2)
        }
        try await outbox.close()
    }

    /// Issue 25, item 3: a batch of 0 (or no room in memory) logged "relay active" and never published,
    /// and a negative sweep interval spun a core; now `run()` refuses such a configuration at once.
    @Test func aConfigurationThatCannotWorkIsRefusedByRun() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let cases: [(String, (inout OutboxRelayConfiguration) -> Void)] = [
            ("batchSize", { $0.batchSize = 0 }),
            ("maxBatchBytes", { $0.maxBatchBytes = 0 }),
            ("maxInMemory", { $0.maxInMemory = 0 }),
            ("maxInMemoryBytes", { $0.maxInMemoryBytes = -1 }),
            ("maxAttempts", { $0.maxAttempts = 0 }),
            ("sweepInterval", { $0.sweepInterval = .seconds(-1) }),
            ("sweepInterval", { $0.sweepInterval = .zero }),
            ("minimumAge", { $0.minimumAge = .milliseconds(-1) }),
            ("initialBackoff", { $0.initialBackoff = .zero }),
            ("maxBackoff", { $0.maxBackoff = .microseconds(1) }),
            ("maxOutageBackoff", { $0.maxOutageBackoff = .seconds(366 * 86400) }),
            ("standbyPollInterval", { $0.standbyPollInterval = .zero }),
            ("outageReminderInterval", { $0.outageReminderInterval = .seconds(-5) }),
            ("defaultTimeToLive", { $0.defaultTimeToLive = .zero }),
        ]
        for (field, change) in cases {
            var config = relayConfiguration()
            change(&config)
            let sink = RecordingSink()
            let relay = OutboxRelay(path: dir, sink: sink, configuration: config, logger: quietLogger)
            await #expect { try await relay.run() } throws: {
                ($0 as? OutboxError)?.code == .invalidArgument && "\($0)".contains("OutboxRelayConfiguration.\(field)")
            }
            #expect(sink.published.isEmpty, "\(field)")
        }
        #expect(throws: Never.self) { try relayConfiguration().validated() }
        #expect(throws: Never.self) { try OutboxRelayConfiguration().validated() }
        try await outbox.close()
    }

    /// Issue 25, item 6: a misconfiguration found after start (a probe during an outage) was waited out
    /// as an outage, healthy all along. The relay's status says misconfigured (health checks fail), it
    /// goes on probing, and a fix ends it.
    @Test func aMisconfigurationFoundDuringAnOutageShowsInTheStatus() async throws {
        final class BrokenSink: OutboxSink, @unchecked Sendable {
            let state = Shared(0)  // 0 works, 1 unreachable, 2 refuses its configuration
            func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
                state.get() == 0 ? Array(repeating: .published, count: batch.count) : Array(repeating: .unavailable("down"), count: batch.count)
            }
            func checkAvailability() async throws -> SinkAvailability {
                switch state.get() {
                case 0: return .available
                case 1: return .unavailable("down")
                default: throw OutboxError(.invalidArgument, "the stream OUTBOX does not exist")
                }
            }
        }
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let sink = BrokenSink()
        var config = relayConfiguration()
        config.maxOutageBackoff = .milliseconds(50)
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: quietLogger)
        try await running(relay) {
            try await outbox.append(sampleMessage(1))
            try await eventually("published") { try OutboxReader(path: dir).stats().pending == 0 }
            sink.state.set(2)
            try await outbox.append(sampleMessage(2))
            try await eventually("misconfigured") { relay.status == .misconfigured("the stream OUTBOX does not exist") }
            #expect(relay.isActive, "it still holds the lock and probes")
            sink.state.set(0)
            try await eventually("fixed: published") { try OutboxReader(path: dir).stats().pending == 0 }
            #expect(relay.status == .active(sinkReachable: true))
        }
        try await outbox.close()
    }

    @Test func aSmallMemoryBudgetStillDeliversEverythingInOrder() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...200 { try await outbox.append(sampleMessage(i, key: "k\(i % 3)", payloadSize: 3000)) }
        let sink = RecordingSink()
        var config = relayConfiguration()
        config.maxInMemoryBytes = 10_000
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: quietLogger)
        try await running(relay) {
            try await eventually("all 200 published") { sink.published.count >= 200 }
        }
        #expect(sink.published.map(\.seq) == Array(1...200))
        try await outbox.close()
    }

    @Test func theQueueAccountsForTheBytesItHolds() {
        var queue = RelayQueue(configuration: relayConfiguration())
        let messages = (1...4).map { i in
            StoredMessage(seq: UInt64(i), message: sampleMessage(i, payloadSize: 1000), segment: "s", offset: 0, compressed: false)
        }
        queue.add(messages)
        #expect(queue.heldBytes == messages.reduce(0) { $0 + RelayQueue.footprint($1) })
        let batch = queue.nextBatch(now: .now)
        _ = queue.apply(batch.map { $0.seq == 2 ? .failed("x") : .published }, to: batch, now: .now, clock: OutboxClock.system.now())
        #expect(queue.count == 1)
        #expect(queue.heldBytes == RelayQueue.footprint(messages[1]))
    }

    /// A key a batch took is in flight: the next batch, taken before the sink's outcome is applied,
    /// holds none of its later messages, while other keys and key-less messages go; a key-less message
    /// waiting for its retry holds back nothing.
    @Test func aKeyInFlightWaitsForItsOutcomeWhileOthersGo() {
        var config = relayConfiguration()
        config.batchSize = 2
        var queue = RelayQueue(configuration: config)
        func m(_ seq: Int, _ key: String?) -> StoredMessage {
            var s = StoredMessage(seq: UInt64(seq), message: sampleMessage(seq), segment: "s", offset: 0, compressed: false)
            s.orderingKey = key
            return s
        }
        queue.add([m(1, "a"), m(2, "a"), m(3, "b"), m(4, nil), m(5, nil), m(6, "a"), m(7, nil)])
        let now = ContinuousClock.now
        let first = queue.nextBatch(now: now)
        #expect(first.map(\.seq) == [1, 2])
        let second = queue.nextBatch(now: now)
        #expect(second.map(\.seq) == [3, 4], "key a is in flight: 6 waits; b and a key-less one go")
        let third = queue.nextBatch(now: now)
        #expect(third.map(\.seq) == [5, 7])
        #expect(queue.nextBatch(now: now).isEmpty, "everything held is in flight")
        _ = queue.apply([.published, .failed("x")], to: first, now: now, clock: OutboxClock.system.now())
        #expect(queue.nextBatch(now: now).isEmpty, "a's head (2) waits for its retry, and 6 behind it")
        _ = queue.apply([.published, .failed("x")], to: second, now: now, clock: OutboxClock.system.now())
        _ = queue.apply([.published, .published], to: third, now: now, clock: OutboxClock.system.now())
        #expect(queue.count == 3 && queue.nextRetry != nil)
        let later = queue.nextBatch(now: now + .seconds(3600))
        #expect(later.map(\.seq) == [2, 4], "both retries due; 6 waits for 2 (batch of 2)")
        _ = queue.apply([.published, .published], to: later, now: now + .seconds(3600), clock: OutboxClock.system.now())
        #expect(queue.nextBatch(now: now + .seconds(3600)).map(\.seq) == [6])
    }

    /// The queue against random sink outcomes (published, failed, rejected, as a sink keeping the
    /// per-key contract reports them), long per-key queues (so the front is trimmed many times) and
    /// messages added out of order: every batch is in sequence order and starts each key at its oldest
    /// held message; every message ends published or dead-lettered exactly once, in its key's order.
    @Test func theQueueKeepsKeyOrderUnderRandomOutcomes() async throws {
        // Seconds of CPU in a debug build: on a thread of its own, not one of the cooperative pool the
        // relay tests running beside it need.
        try await onOwnThread {
            let seed = testSeed("relayQueue")
            var g = SeededGenerator(seed: seed)
            for strict in [false, true] {
                var config = relayConfiguration(maxAttempts: 3)
                config.strictOrder = strict
                var queue = RelayQueue(configuration: config)
                let total = 3000
                let messages = (1...total).map { i in
                    StoredMessage(seq: UInt64(i), message: sampleMessage(i, key: Int.random(in: 0..<10, using: &g) == 0 ? nil : "k\(i % 3)"),
                                  segment: "s", offset: 0, compressed: false)
                }
                let keyOf = { (m: StoredMessage) -> String in strict ? "" : (m.orderingKey ?? "alone-\(m.seq)") }
                queue.add(Array(messages[0..<200]).shuffled(using: &g))
                var added = 200
                var finished: [String: [UInt64]] = [:]
                var ended = Set<UInt64>()
                var now = ContinuousClock.now
                var rounds = 0
                // Checked per round, reported once (an expectation per message costs seconds in a debug build).
                var problems: [String] = []
                while ended.count < total && rounds < 100_000 {
                    rounds += 1
                    if added < total && Bool.random(using: &g) {
                        let n = min(total - added, Int.random(in: 1...150, using: &g))
                        queue.add(Array(messages[added..<added + n]))
                        added += n
                    }
                    now += .seconds(60)
                    let batch = queue.nextBatch(now: now)
                    if !zip(batch, batch.dropFirst()).allSatisfy({ $0.seq < $1.seq }) { problems.append("round \(rounds): a batch out of sequence order") }
                    var failedKeys = Set<String>()
                    var outcomes: [PublishOutcome] = []
                    var down = false
                    for m in batch {
                        let k = keyOf(m)
                        // Once the sink is unavailable, the rest of the batch is too (as PublishRounds reports it).
                        if down { outcomes.append(.unavailable("gone")); continue }
                        if failedKeys.contains(k) { outcomes.append(.failed("behind a failure")); continue }
                        switch Int.random(in: 0..<20, using: &g) {
                        case 0..<3: outcomes.append(.failed("hiccup")); failedKeys.insert(k)
                        case 3: outcomes.append(.rejected("no")); failedKeys.insert(k)
                        case 4: outcomes.append(.unavailable("gone")); down = true
                        default: outcomes.append(.published)
                        }
                    }
                    let result = queue.apply(outcomes, to: batch, now: now, clock: OutboxClock.system.now())
                    if (result.unavailable != nil) != down { problems.append("round \(rounds): the batch does not report the outage as it was") }
                    if result.dead.contains(where: { $0.reason == "gave up after 0 attempts" }) { problems.append("round \(rounds): dead after 0 attempts") }
                    for seq in result.published + result.dead.map(\.seq) {
                        if !ended.insert(seq).inserted { problems.append("round \(rounds): \(seq) ended twice") }
                        finished[keyOf(messages[Int(seq) - 1]), default: []].append(seq)
                    }
                    if queue.count != added - ended.count {
                        problems.append("round \(rounds): the queue holds \(queue.count), not the \(added - ended.count) that have not ended")
                    }
                    if problems.count > 20 { break }
                }
                #expect(problems.isEmpty, "seed \(seed) strict=\(strict): \(problems.prefix(20).joined(separator: "; "))")
                #expect(ended.count == total, "seed \(seed) strict=\(strict): every message published or dead-lettered")
                for (key, seqs) in finished {
                    #expect(seqs == seqs.sorted(), "seed \(seed) strict=\(strict): key \(key) ended out of order")
                }
                #expect(queue.count == 0 && queue.heldBytes == 0, "seed \(seed)")
            }
        }
    }

    @Test func strictOrderHoldsEveryoneBehindAFailure() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let sink = RecordingSink { m, attempt in m.seq == 5 && attempt <= 3 ? .failed("hiccup") : .published }
        var config = relayConfiguration(maxAttempts: 10)
        config.strictOrder = true
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: quietLogger)
        try await running(relay) {
            for i in 1...20 { try await outbox.append(sampleMessage(i, key: "k\(i)")) }
            try await eventually("all published") { sink.published.count >= 20 }
        }
        #expect(sink.published.map(\.seq) == Array(1...20), "global order kept across the retries of seq 5")
        try await outbox.close()
    }
}

@Suite("Relay processes", .serialized)
struct RelayProcessTests {
    /// Starts `outbox relay` on `dir`; its log goes to `log` when given (for a failure to show).
    private func startRelay(_ dir: String, sinkFile: String, sweepInterval: String = "3600", log: String? = nil, extra: [String] = []) throws -> ChildProcess {
        let p = ChildProcess()
        p.executableURL = try outboxExecutable()
        p.arguments = ["relay", dir, "--sink", "file:" + sinkFile, "--sweep-interval", sweepInterval, "--min-age", "0"] + extra
        p.standardOutput = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            p.standardError = FileHandle(forWritingAtPath: log)
            p.environment = ProcessInfo.processInfo.environment.merging(["OUTBOX_LOG_LEVEL": "debug"]) { $1 }
        } else {
            p.standardError = FileHandle.nullDevice
        }
        try p.run()
        return p
    }

    /// The number of complete lines in the sink file (cheap enough to poll).
    private func sinkLineCount(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
    }

    private func sinkLines(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func aStandbyRelayTakesOverWhenTheActiveOneIsKilled() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let out = tmp.sub("out.jsonl")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let a = try startRelay(dir, sinkFile: out)
        try await eventually("relay A active") { try OutboxReader(path: dir).stats().relayPid == a.processIdentifier }
        let b = try startRelay(dir, sinkFile: out)
        defer { b.terminate(); b.waitUntilExit() }
        try await eventually("message 1 published by A") { sinkLines(out).count >= 1 }
        kill(a.processIdentifier, SIGKILL)
        try await onOwnThread { a.waitUntilExit() }
        let killed = ContinuousClock.now
        try await eventually("relay B active") { try OutboxReader(path: dir).stats().relayPid == b.processIdentifier }
        let takeover = ContinuousClock.now - killed
        print("[standby] took over \(takeover) after the active relay was killed")
        #expect(takeover < .seconds(3))
        for i in 2...50 { try await outbox.append(sampleMessage(i)) }
        try await eventually("B publishes what comes next") { Set(sinkLines(out).compactMap { ($0["seq"] as? NSNumber)?.uint64Value }) == Set(1...50) }
        try await outbox.close()
    }

    /// The relay SIGKILLed three times while it publishes and compacts, with messages in three lanes
    /// (keys shared across lanes) and live before backlog on (a fifth of the messages key-less, so the
    /// lanes' live positions take them whenever the relay is 50 ms behind): nothing is lost, and each
    /// key keeps its order within its lane.
    @Test func killingTheRelayMidBatchLosesNothingAndKeepsKeyOrder() async throws {
        let seed = testSeed("killingTheRelayMidBatch")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let out = tmp.sub("out.jsonl")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 32 << 10), logger: quietLogger)
        let total = 3000
        let producer = Task {
            for i in 1...total {
                var m = sampleMessage(i, key: "k\(i % 17)")
                if i % 5 == 0 { m.key = nil }
                m.lane = [.normal, .critical, .bulk, .bulk][i % 4]
                try await outbox.append(m)
            }
        }
        for round in 0..<3 {
            // The relay is killed once it published past a random point of what the producer appended:
            // the producer's pace (an fsync per message, slow on a loaded disk) is waited for first.
            let already = sinkLineCount(out)
            let target = min(total, already + Int.random(in: 50...600, using: &g))
            try await eventually("round \(round): the producer appended \(target)", timeout: .seconds(120)) {
                try OutboxReader(path: dir).stats().lastSeq >= UInt64(target)
            }
            // Sweeping (and so compacting) every 20 ms, the kill also lands in the middle of compactions.
            let log = tmp.sub("relay-\(round).log")
            let relay = try startRelay(dir, sinkFile: out, sweepInterval: "0.02", log: log, extra: ["--live-within", "0.05"])
            do {
                try await eventually("round \(round): relay published past \(target)", timeout: .seconds(60)) {
                    guard relay.isRunning else {
                        Issue.record("round \(round): the relay exited (status \(relay.terminationStatus))")
                        return true
                    }
                    return sinkLineCount(out) >= target
                }
            } catch {
                let stats = try? OutboxReader(path: dir).stats()
                print("[killingTheRelayMidBatch] seed \(seed) round \(round): \(sinkLineCount(out)) lines, stats \(String(describing: stats))")
                print((try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(40).joined(separator: "\n") ?? "(no log)")
                throw error
            }
            if !relay.isRunning {
                print((try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(40).joined(separator: "\n") ?? "(no log)")
                return
            }
            kill(relay.processIdentifier, SIGKILL)
            try await onOwnThread { relay.waitUntilExit() }
        }
        try await producer.value
        let last = try startRelay(dir, sinkFile: out, extra: ["--live-within", "0.05"])
        defer { last.terminate(); last.waitUntilExit() }
        try await eventually("everything published", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        let lines = sinkLines(out)
        let seqs = lines.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }
        #expect(Set(seqs) == Set(1...UInt64(total)), "seed \(seed): every message delivered at least once")
        #expect(try OutboxInspector.verify(path: dir).isClean, "seed \(seed): the outbox is whole after kills during compaction")
        let keyed = lines.filter { $0["key"] is String }
        let keys = keyed.map { "\($0["lane"] as? String ?? "normal")/\($0["key"] as! String)" }
        #expect(Set(lines.compactMap { $0["lane"] as? String }) == ["critical", "bulk"], "the lanes reach the sink")
        #expect(perKeyOrderHolds(zip(keys, keyed.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }).map { ($0, $1) }),
                "seed \(seed): each key in order within its lane")
        print("[killingTheRelayMidBatch] 3 kills, \(lines.count) records for \(total) messages (\(lines.count - total) redelivered)")
        try await outbox.close()
    }
}
