import Foundation
import Testing
@testable import Outbox

/// A sink that records when each batch came and how many bytes it put on the wire.
private final class TimedSink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _batches: [(at: ContinuousClock.Instant, messages: [StoredMessage])] = []
    var framingBytes: Int { 40 }

    var batches: [(at: ContinuousClock.Instant, messages: [StoredMessage])] { lock.withLock { _batches } }

    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        lock.withLock { _batches.append((.now, batch)) }
        return batch.map { _ in .published }
    }
}

@Suite("Uplink cap")
struct UplinkTests {
    /// The token bucket: full at first, a batch's worth waited for, debt paid back, never above its size.
    @Test func theBucketFillsAtTheCapUpToItsSize() {
        let t0 = ContinuousClock.now
        var b = UplinkBucket(bytesPerSecond: 1000, burst: 500, now: t0)
        #expect(b.allowance(queued: 10_000, now: t0) == (.zero, 500), "full at first: the burst")
        b.spend(500, now: t0)
        #expect(b.allowance(queued: 10_000, now: t0).wait == .milliseconds(500), "empty: half a second until the bucket is full again")
        #expect(b.allowance(queued: 100, now: t0 + .milliseconds(250)) == (.zero, 250), "a small queue goes once its worth is there")
        b.spend(750, now: t0 + .milliseconds(250))  // one message larger than what was left: debt
        #expect(b.allowance(queued: 100, now: t0 + .milliseconds(250)).wait == .milliseconds(600), "the debt is paid back first")
        #expect(b.allowance(queued: 10_000, now: t0 + .seconds(60)) == (.zero, 500), "never more than its size")
    }

    /// A route capped at 40,000 bytes a second with a burst of 8,000: no batch is larger than the burst,
    /// and over any stretch of batches the bytes sent stay within the burst plus the cap times the time
    /// they took (so the whole drain takes at least what the cap allows), while every message arrives.
    @Test func aCappedRouteKeepsToItsRateAndBurst() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let payload = [UInt8](repeating: 0x61, count: 200)
        for i in 0..<300 {
            try await outbox.append(OutboxMessage(type: "Reading", key: "k\(i % 5)", payload: payload))
        }
        let sink = TimedSink()
        var config = relayConfiguration()
        config.maxBytesPerSecond = 40_000
        config.burstBytes = 8_000
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: quietLogger)
        let start = ContinuousClock.now
        try await running(relay) {
            try await eventually("every message published") { sink.batches.reduce(0) { $0 + $1.messages.count } == 300 }
        }
        let took = ContinuousClock.now - start
        try await outbox.close()
        let batches = sink.batches
        let sizes = batches.map { $0.messages.reduce(0) { $0 + $1.wireBytes(framing: 40) } }
        let total = sizes.reduce(0, +)
        #expect(sizes.allSatisfy { $0 <= 8_000 }, "no batch above the burst: \(sizes.max() ?? 0)")
        // A batch is stamped when the sink gets it, which on a loaded machine can be well after the relay
        // took it from its bucket; the bucket let batch i go after batch i - 1 reached the sink, and batch j
        // before it reached the sink, so batches i...j went within the bucket's refill from the stamp of
        // batch i - 1 (the relay's start for the first) to the stamp of batch j.
        for i in batches.indices {
            var sent = 0
            let from = i == 0 ? start : batches[i - 1].at
            for j in i..<batches.count {
                sent += sizes[j]
                let elapsed = batches[j].at - from
                let allowed = 8_000 + 40_000 * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                #expect(Double(sent) <= allowed + 1, "batches \(i)...\(j): \(sent) bytes in \(elapsed)")
                if Double(sent) > allowed + 1 { return }
            }
        }
        let floor = Duration.milliseconds(Int64(Double(total - 8_000) / 40_000 * 1000))
        #expect(took >= floor, "\(total) bytes took \(took), at least \(floor) under the cap")
        #expect(perKeyOrderHolds(batches.flatMap(\.messages).map { ($0.message.key, $0.seq) }))
        print("[uplink] \(total) bytes in \(batches.count) batches over \(took) (cap 40,000 B/s, burst 8,000)")
    }

    /// With `critical-only`, a spent budget holds every lane but `critical`: a critical message appended
    /// after the budget is spent still goes (its bytes counted past the budget), the bulk backlog waits.
    @Test func aSpentBudgetLetsOnlyCriticalThroughWhenToldTo() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let payload = [UInt8](repeating: 0x63, count: 200)
        for i in 0..<20 { try await outbox.append(OutboxMessage(type: "Reading", key: "k\(i % 3)", payload: payload, lane: .bulk)) }
        let sink = TimedSink()
        var config = relayConfiguration()
        config.uplinkBudget = UplinkBudget(bytes: 2_000, per: .hour, whenSpent: .criticalOnly)
        let log = LogCapture()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: log.logger)
        try await running(relay) {
            try await eventually("the budget is spent") { log.lines.contains { $0.message.contains("only critical messages go") } }
            let before = sink.batches.flatMap(\.messages)
            #expect(!before.isEmpty && before.allSatisfy { $0.message.lane == .bulk })
            let alarm = try await outbox.append(OutboxMessage(type: "Alarm", key: "k1", payload: payload, lane: .critical))
            try await eventually("the critical message goes past the budget") { sink.batches.contains { $0.messages.contains { $0.seq == alarm } } }
            #expect(sink.batches.flatMap(\.messages).count == before.count + 1, "no bulk message went after the budget was spent")
        }
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.uplink.first.map { $0.spentBytes > 2_000 } == true, "the critical message's bytes are counted: \(stats.uplink)")
        #expect(stats.pending == UInt64(20 - sink.batches.flatMap(\.messages).count + 1))
        try await outbox.close()
    }

    /// Periods are UTC hours, days and months.
    @Test func aBudgetsPeriodIsAnHourADayOrAMonthInUTC() {
        let t = Date(timeIntervalSince1970: 1_796_550_000)  // 2026-12-06T09:40:00Z
        #expect(UplinkBudget(bytes: 1, per: .hour).bounds(of: t) == (Date(timeIntervalSince1970: 1_796_547_600), Date(timeIntervalSince1970: 1_796_551_200)))
        #expect(UplinkBudget(bytes: 1, per: .day).bounds(of: t) == (Date(timeIntervalSince1970: 1_796_515_200), Date(timeIntervalSince1970: 1_796_601_600)))
        #expect(UplinkBudget(bytes: 1, per: .month).bounds(of: t) == (Date(timeIntervalSince1970: 1_796_083_200), Date(timeIntervalSince1970: 1_798_761_600)))
    }

    /// A route with a budget of 3,000 bytes an hour publishes what fits and holds the rest; the spend is
    /// on disk before a batch goes, so a restarted relay goes on from it (and publishes nothing more this
    /// hour); `stats` shows it, and a spend of an hour that is over counts as nothing.
    @Test func aPeriodBudgetIsNeverOverspentAndSurvivesARestart() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let payload = [UInt8](repeating: 0x62, count: 200)
        for i in 0..<20 { try await outbox.append(OutboxMessage(type: "Reading", key: "k\(i % 3)", payload: payload)) }
        let size = try OutboxReader(path: dir).messages()[0].wireBytes(framing: 40)
        let fits = 3_000 / size
        let sink = TimedSink()
        var config = relayConfiguration()
        config.uplinkBudget = UplinkBudget(bytes: 3_000, per: .hour)
        for round in 0..<2 {
            let log = LogCapture()
            let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: log.logger)
            try await running(relay) {
                try await eventually("round \(round): the relay holds, its budget spent") { log.lines.contains { $0.message.contains("uplink budget spent") } }
            }
            let sent = sink.batches.reduce(0) { $0 + $1.messages.count }
            #expect(sent == fits, "round \(round): \(sent) messages of \(size) bytes went, \(fits) fit in 3,000")
        }
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.uplink.count == 1 && stats.uplink[0].route == "default" && stats.uplink[0].spentBytes == Int64(fits * size)
                && stats.uplink[0].budgetBytes == 3_000 && stats.uplink[0].period == "hour", "\(stats.uplink)")
        #expect(stats.pending == UInt64(20 - fits))
        let check = try await runOutbox(["check", dir])
        #expect(check.status == 1 && check.stdout.contains("uplink budget of route default 9") && check.stdout.contains("uplink_default="),
                "\(check.stdout)")
        // The same spend recorded for an hour that is over: nothing spent this hour.
        var old = try #require(UplinkSpendFile.decode(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/uplink-default.json")))))
        old.periodStartMicros -= 3_600_000_000
        try Data(old.encode()).write(to: URL(fileURLWithPath: dir + "/uplink-default.json"))
        #expect(try OutboxReader(path: dir).stats().uplink.first?.spentBytes == 0)
        try await outbox.close()
    }
}
