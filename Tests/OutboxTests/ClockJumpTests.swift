import Foundation
import Testing
@testable import Outbox

/// The machine's clocks with a wall clock that jumps when told: the boot and the time since boot are
/// the real ones (they never jump), the wall clock is the real one moved by ``jump(byYears:)``.
final class JumpingClock: @unchecked Sendable {
    private let lock = NSLock()
    private var offsetMicros: Int64 = 0
    private var synchronized: Bool
    let bootID: UUID

    init(bootID: UUID = OutboxClock.system.now().bootID, synchronized: Bool = true) {
        (self.bootID, self.synchronized) = (bootID, synchronized)
    }

    var clock: OutboxClock { OutboxClock { [self] in now() } }

    func now() -> ClockReading {
        let real = OutboxClock.system.now()
        return lock.withLock {
            ClockReading(wallMicros: real.wallMicros + offsetMicros, bootID: bootID, bootMicros: real.bootMicros, wallSynchronized: synchronized)
        }
    }

    func jump(byYears years: Int) { jump(byMicros: Int64(years) * 365 * 86_400 * 1_000_000) }

    func jump(byMicros micros: Int64) { lock.withLock { offsetMicros += micros } }

    func setSynchronized(_ value: Bool) { lock.withLock { synchronized = value } }
}

/// A sink whose broker cannot be reached: publishing and probing both say so (the relay waits, probing
/// with backoff, and publishes nothing).
final class DownSink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _published: [StoredMessage] = []
    var published: [StoredMessage] { lock.withLock { _published } }
    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] { batch.map { _ in .unavailable("the uplink is down") } }
    func checkAvailability() async throws -> SinkAvailability { .unavailable("the uplink is down") }
}

@Suite("Clock jumps")
struct ClockJumpTests {
    /// Elapsed time within a boot is the time since boot, whatever the wall clock did; across boots it is
    /// a lower bound (this boot's time since boot), raised by the wall clocks only when both were
    /// synchronized; a deadline without a commit clock (an older file) is the wall clock's.
    @Test func elapsedTimeAndDeadlinesIgnoreTheWallClock() {
        let a = UUID(), b = UUID()
        let commit = ClockReading(wallMicros: 1_000_000_000_000, bootID: a, bootMicros: 50_000_000, wallSynchronized: false)
        let tenYears: Int64 = 10 * 365 * 86_400 * 1_000_000
        for jump in [tenYears, -tenYears, 0] {
            let now = ClockReading(wallMicros: commit.wallMicros + jump, bootID: a, bootMicros: 53_000_000, wallSynchronized: true)
            #expect(now.elapsed(since: commit) == 3_000_000, "jump \(jump)")
            let deadline = MessageDeadline(wallMicros: commit.wallMicros + 4_000_000, commit: commit)
            #expect(!deadline.passed(at: now), "4 s after a commit 3 s ago, jump \(jump)")
            var later = now
            later.bootMicros += 1_000_000
            #expect(deadline.passed(at: later), "4 s after a commit 4 s ago, jump \(jump)")
        }
        // Another boot: 7 s into it, with the commit's wall clock unsynchronized: 7 s at least.
        let otherBoot = ClockReading(wallMicros: commit.wallMicros + tenYears, bootID: b, bootMicros: 7_000_000, wallSynchronized: true)
        #expect(otherBoot.elapsed(since: commit) == 7_000_000)
        // Both synchronized: the wall clocks' difference, when larger.
        var synced = commit
        synced.wallSynchronized = true
        #expect(otherBoot.elapsed(since: synced) == tenYears)
        var behind = otherBoot
        behind.wallMicros = commit.wallMicros - tenYears
        #expect(behind.elapsed(since: synced) == 7_000_000, "a wall clock behind the commit's is not elapsed time")
        // Unknown boots are never the same boot, nor known to be others: the wall clocks' difference.
        let unknown = ClockReading(wallMicros: 1_000_000, bootID: ClockReading.unknownBoot, bootMicros: 9_000_000, wallSynchronized: false)
        var later = unknown
        later.wallMicros += 2_000_000
        #expect(!unknown.sameBoot(as: unknown) && later.elapsed(since: unknown) == 2_000_000 && later.elapsed(since: commit) == later.wallMicros - commit.wallMicros)
        // Without a commit clock, the wall clock decides.
        let old = MessageDeadline(wallMicros: 5_000_000, commit: nil)
        #expect(!old.passed(at: ClockReading(wallMicros: 4_999_999, bootID: a, bootMicros: 0, wallSynchronized: true)))
        #expect(old.passed(at: ClockReading(wallMicros: 5_000_000, bootID: a, bootMicros: 0, wallSynchronized: true)))
    }

    /// Messages with deliver-by deadlines and a default time to live, pending while the sink is away: the
    /// wall clock jumps 10 years forwards, then 20 back. No message expires before its time to live has
    /// elapsed (by the time since boot), and none is kept more than a few seconds past it. Stats' ages
    /// jump with nothing.
    @Test func aJumpOfTenYearsExpiresNothingEarlyAndKeepsNothingForever() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let jumping = JumpingClock()
        var config = configuration()
        config.clock = jumping.clock
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        let ttl: Int64 = 6_000_000
        let start = jumping.now()
        for i in 1...10 {
            var m = sampleMessage(i, key: "k\(i % 3)")
            m.expiresAt = Date(timeIntervalSince1970: Double(jumping.now().wallMicros + ttl) / 1e6)
            try await outbox.append(m)
        }
        try await outbox.append(contentsOf: (11...20).map { sampleMessage($0, key: "k\($0 % 3)") })
        let appended = jumping.now()
        var c = relayConfiguration()
        c.defaultTimeToLive = .microseconds(ttl)
        c.clock = jumping.clock
        let sink = DownSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: c, outbox: outbox, logger: quietLogger)) {
            jumping.jump(byYears: 10)
            // Checked until the time to live has elapsed since the first append (and at least three times,
            // the clock going back after the first): nothing expired.
            var checks = 0
            while checks < 3 || jumping.now().elapsed(since: start) < ttl - 500_000 {
                let stats = try OutboxReader(path: dir).stats(now: jumping.now())
                let elapsed = jumping.now().elapsed(since: start)
                if elapsed < ttl {
                    #expect(stats.expired == 0, "expired early, \(elapsed) µs after the first append")
                    #expect((stats.oldestPendingAgeSeconds ?? 0) < Double(ttl) / 1e6, "an age that jumped: \(String(describing: stats.oldestPendingAgeSeconds))")
                }
                if checks == 0 { jumping.jump(byYears: -20) }
                checks += 1
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(jumping.now().wallMicros < start.wallMicros, "the clock went back")
            // Each expires once its time to live has elapsed: all within a few seconds of the last append's.
            // (Polled every 100 ms: reading stats in a debug build is not free, and other suites run meanwhile.)
            let deadline = ContinuousClock.now + .seconds(60)
            while try OutboxReader(path: dir).stats().expired < 20, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(try OutboxReader(path: dir).stats().expired == 20, "all expired")
            let late = jumping.now().elapsed(since: appended) - ttl
            #expect(late < 6_000_000, "kept \(late) µs past the time to live")
        }
        #expect(sink.published.isEmpty)
        try await outbox.close()
    }

    /// A message committed in this boot before the wall clock was set is published with the creation
    /// time it really had (the clock's jump since the commit taken off); one from an earlier boot whose
    /// clock was not synchronized, on a machine whose clock is now, is marked uncertain. Neither changes
    /// what is stored.
    @Test func creationTimesAreCorrectedOrMarked() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        // Booted in 1970 (no real-time clock), not synchronized.
        let early = JumpingClock(synchronized: false)
        early.jump(byMicros: -early.now().wallMicros + 60_000_000)
        var config = configuration()
        config.clock = early.clock
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        let beforeSet = try await outbox.append(OutboxMessage(type: "Reading", key: "s1", payload: [1]))
        try await outbox.close()
        // Another boot's message, unsynchronized too.
        let previousBoot = JumpingClock(bootID: UUID(), synchronized: false)
        config.clock = previousBoot.clock
        let again = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        let otherBoot = try await again.append(OutboxMessage(type: "Reading", key: "s1", payload: [2]))
        try await again.close()
        let stored = try OutboxReader(path: dir).messages()
        #expect(stored.map(\.seq) == [beforeSet, otherBoot])

        // NTP sets the clock of this boot: the real wall clock, synchronized.
        let setClock = JumpingClock(bootID: early.bootID, synchronized: true)
        let sink = RecordingSink()
        var c = relayConfiguration()
        c.clock = setClock.clock
        try await running(OutboxRelay(path: dir, sink: sink, configuration: c, logger: quietLogger)) {
            try await eventually("both published") { sink.published.count == 2 }
        }
        let published = sink.published.sorted { $0.seq < $1.seq }
        let commit = try #require(stored[0].commitClock)
        let real = setClock.now().wallMicros - (setClock.now().bootMicros - commit.bootMicros)
        #expect(abs(published[0].message.createdAtMicros - real) < 2_000_000, "corrected to about \(real): \(published[0].message.createdAtMicros)")
        #expect(!published[0].message.headers.contains { $0.name == "outbox-time-uncertain" })
        #expect(published[1].message.createdAtMicros == stored[1].message.createdAtMicros)
        #expect(published[1].message.headers.last == .init("outbox-time-uncertain", "true"))
        #expect(try OutboxReader(path: dir).messages().map(\.message) == stored.map(\.message), "the stored messages are unchanged")
    }
}
