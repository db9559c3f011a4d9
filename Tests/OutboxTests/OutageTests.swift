import Foundation
import Logging
import OutboxBench
import Testing
@testable import Outbox

/// The relay through outages of its sink: an unavailable sink counts no attempt against any message,
/// is probed until it answers, and is reported once when it goes and once when it is back.
@Suite("Outages")
struct OutageTests {
    private func outageConfiguration() -> OutboxRelayConfiguration {
        var c = relayConfiguration(maxAttempts: 1)  // a single counted attempt would dead-letter
        c.maxOutageBackoff = .milliseconds(20)
        return c
    }

    @Test func anOutageCountsNoAttemptLosesNothingAndIsReportedOnce() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let recording = RecordingSink()
        let sink = OutageSink(inner: recording)
        let log = LogCapture()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: outageConfiguration(), outbox: outbox, logger: log.logger)
        try await running(relay) {
            for i in 1...100 { try await outbox.append(sampleMessage(i, key: "k\(i % 5)")) }
            try await eventually("the first 100 published") { recording.published.count >= 100 }
            sink.takeDown()
            for i in 101...400 { try await outbox.append(sampleMessage(i, key: "k\(i % 5)")) }
            try await eventually("the outage is logged") { !log.lines(containing: "sink unreachable").isEmpty }
            // `stats` (any process) shows what the relay reported.
            try await eventually("stats shows the outage") {
                let s = try OutboxReader(path: dir).stats()
                return s.sinkReachable == false && s.sinkError?.contains("taken away") == true && s.lastPublishMicros != nil
            }
            // Many probes are refused while the sink is away: the outage lasts.
            try await eventually("20 probes refused") { sink.refused.probes >= 20 }
            #expect(recording.published.count == 100, "nothing reaches a sink that is away")
            sink.bringBack()
            try await eventually("all 400 published") { recording.published.count >= 400 }
            try await eventually("stats shows the sink back") {
                let s = try OutboxReader(path: dir).stats()
                return s.sinkReachable == true && s.sinkError == nil
            }
            try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.dead == 0, "an outage dead-letters nothing, even with maxAttempts 1")
        #expect(recording.published.map(\.seq).sorted() == Array(1...400))
        #expect(Set(recording.published.map(\.seq)).count == 400, "no duplicates")
        #expect(perKeyOrderHolds(recording.published.map { ($0.message.key, $0.seq) }))
        #expect(log.lines(containing: "sink unreachable").count == 1, "\(log.lines.map(\.text))")
        #expect(log.lines(containing: "sink reachable again").count == 1, "\(log.lines.map(\.text))")
        #expect(log.lines(containing: "relay active").count == 1)
        #expect(log.lines(containing: "dead-lettered").isEmpty)
        try await outbox.close()
    }

    @Test func aSinkUnavailableAtStartIsAnOutageNotAnError() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...10 { try await outbox.append(sampleMessage(i)) }
        let recording = RecordingSink()
        let sink = OutageSink(inner: recording)
        sink.takeDown()
        let log = LogCapture()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: outageConfiguration(), outbox: outbox, logger: log.logger)
        try await running(relay) {
            try await eventually("the outage is logged") { !log.lines(containing: "sink unreachable").isEmpty }
            try await eventually("probes refused") { sink.refused.probes >= 5 }
            #expect(sink.refused.batches == 0, "no batch is sent to a sink the probe found away")
            sink.bringBack()
            try await eventually("all 10 published") { recording.published.count >= 10 }
        }
        #expect(log.lines(containing: "sink reachable again").count == 1)
        try await outbox.close()
    }

    @Test(arguments: [false, true])
    func deadlinesStillApplyDuringAnOutage(deadLetterExpired: Bool) async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let recording = RecordingSink()
        let sink = OutageSink(inner: recording)
        sink.takeDown()
        var c = outageConfiguration()
        c.deadLetterExpired = deadLetterExpired
        let relay = OutboxRelay(path: dir, sink: sink, configuration: c, outbox: outbox, logger: quietLogger)
        try await running(relay) {
            var expiring = sampleMessage(1, key: "k")
            expiring.expiresAt = Date().addingTimeInterval(0.3)
            try await outbox.append(expiring)
            try await outbox.append(sampleMessage(2, key: "k"))
            try await eventually("the message expires") { try OutboxReader(path: dir).stats().expired == 1 }
            sink.bringBack()
            try await eventually("the other one is published") { recording.published.count >= 1 }
        }
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.dead == 0 && stats.expired == 1 && stats.pending == 0, "\(stats)")
        #expect(try OutboxReader(path: dir).tombstones().status(of: 1) == .expired)
        let dead = try OutboxReader(path: dir).deadLetters()
        if deadLetterExpired {
            #expect(dead.map(\.seq) == [1] && dead.first?.reason == "deliver-by deadline passed", "a copy kept on request")
            #expect(dead.first?.attempts == 0, "no attempt was counted while the sink was away")
        } else {
            #expect(dead.isEmpty, "an expired message is not a dead letter")
        }
        #expect(recording.published.map(\.seq) == [2], "the expired one never reaches the sink")
        try await outbox.close()
    }

    /// A default time to live: a backlog older than it, found when the relay starts, is never published.
    @Test func aDefaultTimeToLiveExpiresAnOldBacklogBeforeItIsPublished() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...20 { try await outbox.append(OutboxMessage(type: "E", key: "k\(i % 3)", payload: [UInt8(i)], createdAt: Date().addingTimeInterval(-120))) }
        for i in 21...30 { try await outbox.append(sampleMessage(i, key: "k\(i % 3)")) }
        var c = relayConfiguration()
        c.defaultTimeToLive = .seconds(60)
        let recording = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: recording, configuration: c, outbox: outbox, logger: quietLogger)) {
            try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        #expect(recording.published.map(\.seq) == Array(21...30), "only the messages younger than the time to live")
        #expect(try OutboxReader(path: dir).stats().expired == 20)
        let dump = try await runOutbox(["dump", dir, "--status", "expired"])
        #expect(dump.stdout.split(separator: "\n").count == 21, "\(dump.stdout)")
        try await outbox.close()
    }

    @Test func aMessageTheSinkRejectsIsStillDeadLetteredAtOnce() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let recording = RecordingSink { m, _ in m.seq == 3 ? .rejected("too large") : .published }
        let relay = OutboxRelay(path: dir, sink: recording, configuration: relayConfiguration(maxAttempts: 10), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            for i in 1...5 { try await outbox.append(sampleMessage(i, key: "k")) }
            try await eventually("four published, one dead") {
                let s = try OutboxReader(path: dir).stats()
                return s.published == 4 && s.dead == 1
            }
        }
        #expect(recording.attempts(3) == 1, "rejected on the first attempt, not retried")
        #expect(recording.published.map(\.seq) == [1, 2, 4, 5])
        try await outbox.close()
    }

    @Test func aMisconfiguredSinkStopsTheRelayAtStart() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let relay = OutboxRelay(path: dir, sink: MisconfiguredSink(), configuration: relayConfiguration(), logger: quietLogger)
        do {
            try await relay.run()
            Issue.record("the relay ran with a misconfigured sink")
        } catch let e as OutboxError {
            #expect(e.code == .invalidArgument)
            #expect(e.message.contains("broken-sink") && e.message.contains("stream X does not cover"), "\(e)")
        }
        #expect(!relay.isActive)
        try await outbox.close()
    }

    @Test func aPathThatIsNoOutboxIsAnErrorAndGetsNoLockFile() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("empty")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        for path in [dir, tmp.sub("missing")] {
            let relay = OutboxRelay(path: path, sink: RecordingSink(), configuration: relayConfiguration(), logger: quietLogger)
            await #expect(throws: OutboxError.self) { try await relay.run() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no relay.lock in a directory that is no outbox")

        // With waitForOutbox, the relay waits as a standby and takes over once the outbox exists.
        var config = relayConfiguration()
        config.waitForOutbox = true
        let recording = RecordingSink()
        let log = LogCapture()
        let relay = OutboxRelay(path: dir, sink: recording, configuration: config, logger: log.logger)
        try await running(relay) {
            try await eventually("the standby line") { !log.lines(containing: "standby").isEmpty }
            #expect(!relay.isActive)
            let outbox = try await Outbox.open(at: dir, logger: quietLogger)
            try await outbox.append(sampleMessage(1))
            try await eventually("active") { relay.isActive }
            try await eventually("published") { recording.published.count == 1 }
            try await outbox.close()
        }
        #expect(log.lines(containing: "standby").first?.level == .notice)
    }

    @Test func publishRoundsStopAtTheFirstUnavailableRound() {
        var sent: [[UInt64]] = []
        let batch = [stored(1, key: "a"), stored(2, key: "b"), stored(3, key: "a"), stored(4, key: "b")]
        let outcomes = PublishRounds.run(batch) { round in
            sent.append(round.map(\.seq))
            return round.map { $0.seq == 2 ? .unavailable("gone") : .published }
        }
        #expect(sent == [[1, 2]], "no round after the sink went away")
        #expect(outcomes[0] == .published)
        let rest = outcomes[1...].allSatisfy { $0.isUnavailable }
        #expect(rest, "\(outcomes)")
    }

    @Test func theQueueCountsNoAttemptForAnUnavailableSink() {
        var queue = RelayQueue(configuration: relayConfiguration(maxAttempts: 1))
        queue.add([stored(1, key: "a"), stored(2, key: "a")])
        for _ in 0..<5 {
            let batch = queue.nextBatch(now: .now)
            #expect(batch.map(\.seq) == [1, 2], "retried at once, with no backoff of its own")
            let result = queue.apply(batch.map { _ in .unavailable("down") }, to: batch, now: .now, clock: OutboxClock.system.now())
            #expect(result.dead.isEmpty && result.failures == 0 && result.unavailable == "down")
        }
        #expect(queue.count == 2)
    }
}

/// A sink whose startup check finds a definite misconfiguration.
private struct MisconfiguredSink: OutboxSink {
    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] { batch.map { _ in .published } }
    func checkAvailability() async throws -> SinkAvailability {
        throw OutboxError(.invalidArgument, "stream X does not cover the subject y.{type}")
    }
    var displayName: String { "broken-sink" }
}
