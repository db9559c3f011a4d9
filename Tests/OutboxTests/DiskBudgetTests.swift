import Foundation
import OutboxBench
import Testing
@testable import Outbox

/// The disk budget (FORMAT.md §1b): appends stop with `outbox-full` before the budget is passed, nothing
/// acknowledged is lost, and once a relay drains, space comes back and appends succeed again, on the
/// same open outbox.
@Suite("Disk budget")
struct DiskBudgetTests {
    @Test func appendsStopAtTheBudgetAndResumeOnceTheRelayDrainsWithoutAReopen() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var c = OutboxConfiguration()
        c.maxDiskBytes = 1 << 20
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        var acknowledged: [UInt64] = []
        var full: OutboxError?
        while full == nil {
            do { acknowledged.append(try await outbox.append(sampleMessage(acknowledged.count, payloadSize: 200))) } catch let e as OutboxError {
                full = e
            }
        }
        #expect(full?.code == .outboxFull && full?.message.contains("1048576-byte disk budget") == true, "\(String(describing: full))")
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        #expect(try DiskBudget.usage(of: directory) <= 1 << 20, "the budget is never passed")
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == acknowledged, "every acknowledged message is there")
        #expect(try OutboxReader(path: dir).stats().maxDiskBytes == 1 << 20, "every process sees the budget")
        await #expect(throws: OutboxError.self) { try await outbox.append(sampleMessage(0, payloadSize: 200)) }
        #expect(try OutboxReader(path: dir).stats().fullSinceMicros != nil, "stats says since when it is full")

        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)) {
            try await eventually("the backlog drains") { sink.published.count == acknowledged.count }
            // Segments are at most 1/16 of the budget; compaction gives them back as they finish.
            try await eventually("space comes back to within one segment") { try DiskBudget.usage(of: directory) <= (1 << 20) / 16 + (16 << 10) }
            let again = try await outbox.append(sampleMessage(0, payloadSize: 200))
            #expect(again == acknowledged.last! + 1, "appends succeed again without a reopen")
            #expect(try OutboxReader(path: dir).stats().fullSinceMicros == nil, "no longer full")
        }
        try await outbox.close()
    }

    @Test func theToolSetsTheBudgetStopsWithOneLineAndDrains() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let r = try await runOutbox(["append", dir, "--max-disk", "2M", "--count", "1000000", "--payload-size", "200", "--print-ack"])
        #expect(r.status == 75, "EX_TEMPFAIL: \(r.stderr)")
        #expect(r.stderr.hasPrefix("outbox: error [outbox-full]: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let acks = r.stdout.split(separator: "\n").compactMap { UInt64($0) }
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == acks, "every acknowledged message is there")
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        #expect(try DiskBudget.usage(of: directory) <= 2 << 20)
        let stats = try await runOutbox(["stats", dir])
        #expect(stats.stdout.contains("of 2.0 MiB used"), "\(stats.stdout)")
        // The refusing writer has exited: its word that the outbox is full still shows (issue 25).
        #expect(stats.stdout.contains("full since:") && !stats.stdout.contains("full since:         -"), "\(stats.stdout)")
        let exact = try await runOutbox(["stats", dir, "--bytes"])
        #expect(exact.stdout.contains("of 2097152 B used"), "\(exact.stdout)")
        #expect(try await runOutbox(["append", dir, "--max-disk", "2X"]).status == 64, "a size it cannot read")
        // JSON log lines carry numbers as numbers (issue 25).
        let logged = try await runProgram(try outboxExecutable(), ["append", dir, "--count", "1", "--payload-size", "200"],
                                          environment: ["OUTBOX_LOG_FORMAT": "json", "OUTBOX_LOG_LEVEL": "info"])
        let full = logged.stderr.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { ($0["message"] as? String)?.contains("is full") == true }
        #expect(full?["budget"] is NSNumber && !(full?["budget"] is String) && full?["label"] is String, "\(logged.stderr)")
        #expect(try await runOutbox(["append", dir, "--count", "1", "--payload-size", "200"]).status == 75, "the budget is kept in the outbox")
        #expect(try await runOutbox(["append", dir, "--count", "1", "--max-disk", "0"]).status == 0, "0 removes it")
        #expect(try OutboxReader(path: dir).stats().maxDiskBytes == nil)
    }

    /// `--on-full drop-oldest`: the oldest messages go, a segment at a time, exactly as many as the
    /// overflow needs; stats counts them exactly, and the relay delivers every other message.
    @Test func dropOldestDropsExactlyTheOldestAndTheRelayDeliversTheRest() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let r = try await runOutbox(["append", dir, "--max-disk", "2M", "--on-full", "drop-oldest", "--count", "12000", "--payload-size", "200"])
        #expect(r.status == 0, "\(r.stderr)")
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.dropped > 0 && stats.dropped == stats.firstSeq - 1, "exactly the oldest are dropped: \(stats)")
        #expect(stats.pending + stats.dropped == 12000 && stats.lastSeq == 12000)
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        #expect(try DiskBudget.usage(of: directory) <= 2 << 20)
        let dump = try await runOutbox(["dump", dir, "--status", "dropped"])
        #expect(dump.stdout.contains("1...\(stats.firstSeq - 1)") && dump.stdout.contains("dropped"), "\(dump.stdout)")
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty, "dropped numbers satisfy the below-base rule")
        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), logger: quietLogger)) {
            try await eventually("every other message delivered") { sink.published.count == Int(stats.pending) }
        }
        #expect(Set(sink.published.map(\.seq)) == Set(stats.firstSeq...12000))
    }

    /// Issue 28, drop by lane: three lanes interleaved, commit by commit, into a budget that fills many
    /// times over under drop-oldest. Bulk goes first, then normal, then critical: a message of a higher
    /// lane is dropped only when no older message of a lower lane is kept (what is newer than it was in the
    /// active segment then, which is never dropped); the segments
    /// rewritten without the dropped commits verify clean, and a relay publishes exactly what is kept,
    /// tombstoning nothing as lost.
    @Test func dropOldestDropsTheLowestLaneFirst() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var c = configuration()
        c.maxDiskBytes = 1 << 20
        c.onFull = .dropOldest
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        let lanes: [OutboxLane] = [.bulk, .bulk, .bulk, .normal, .bulk, .critical, .bulk, .normal]
        var laneOf: [UInt64: OutboxLane] = [:]
        for i in 0..<16000 {
            let lane = lanes[i % lanes.count]
            let seq = try await outbox.append(OutboxMessage(type: "T", key: "k\(i % 5)", payload: [UInt8](repeating: 7, count: 300), lane: lane))
            laneOf[seq] = lane
        }
        try await outbox.close()
        let reader = try OutboxReader(path: dir)
        let dropped = try reader.tombstones().dropped
        let kept = try reader.messages()
        #expect(!dropped.isEmpty, "the budget filled")
        let droppedSeqs = dropped.ranges.flatMap { $0 }
        let droppedLanes = Set(droppedSeqs.compactMap { laneOf[$0] })
        let rank = { (l: OutboxLane) in LaneDrop.rank(l.name) }
        // The newest dropped message of each rank: every kept message of a lower rank is newer than it.
        var newestDropped = [UInt64](repeating: 0, count: 3)
        for seq in droppedSeqs { if let lane = laneOf[seq] { newestDropped[rank(lane)] = max(newestDropped[rank(lane)], seq) } }
        for m in kept {
            let r = rank(m.message.lane)
            for higher in (r + 1)..<3 where newestDropped[higher] > m.seq {
                Issue.record("kept \(m.message.lane) message \(m.seq) is older than dropped \(["bulk", "normal", "critical"][higher]) message \(newestDropped[higher])")
            }
        }
        #expect(droppedLanes == [.bulk, .normal, .critical], "the budget filled with critical messages too: \(droppedLanes)")
        #expect(kept.contains { $0.message.lane == .critical }, "critical messages are kept")
        #expect(Set(kept.map(\.seq)).isDisjoint(with: Set(dropped.ranges.flatMap { $0 })))
        #expect(UInt64(kept.count) + dropped.count(in: 1...16000) == 16000, "every number kept or dropped")
        #expect(try DiskBudget.usage(of: reader.directory) <= 1 << 20)
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty)
        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), logger: quietLogger)) {
            try await eventually("every kept message delivered") { sink.published.count == kept.count }
        }
        #expect(Set(sink.published.map(\.seq)) == Set(kept.map(\.seq)))
        #expect(try reader.lostSequenceNumbers().isEmpty, "a dropped number is dropped, not lost")
        print("[dropOldestDropsTheLowestLaneFirst] dropped \(dropped.count(in: 1...16000)) (\(droppedLanes.map(\.name).sorted())), kept \(kept.count)")
    }

    /// Issue 25, item 12: one damaged frame of `dropped.log` made verify ignore every frame of it, and
    /// repair then tombstoned every dropped number as dead (lost). Only the damaged frame's numbers may
    /// become lost; the others stay dropped, and none is both.
    @Test func aDamagedFrameOfTheDroppedFileLosesOnlyItsOwnNumbers() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let r = try await runOutbox(["append", dir, "--max-disk", "1M", "--on-full", "drop-oldest", "--count", "12000", "--payload-size", "200",
                                     "--segment-size", "65536"])
        #expect(r.status == 0, "\(r.stderr)")
        let before = try OutboxReader(path: dir).stats()
        let raw = try OutboxInspector.rawWalk(path: dir).first { $0.name == FileNames.dropped }
        let dropFrames = (raw?.entries ?? []).compactMap { e -> (offset: Int64, first: UInt64, count: UInt32)? in
            if case .frame(let offset, _, _, let first, let count) = e { return (offset, first, count) } else { return nil }
        }
        #expect(dropFrames.count >= 3, "several drops, several frames: \(dropFrames.count)")
        let victim = dropFrames[1]
        let path = dir + "/" + FileNames.dropped
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[Int(victim.offset) + FrameHeader.size + 1] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        let report = try OutboxInspector.verify(path: dir)
        // The damage, and the damaged frame's own numbers below the first segment, which nothing else records.
        #expect(report.problems.contains { $0.kind == .corrupt && $0.file == FileNames.dropped }, "\(report.problems)")
        #expect(report.problems.allSatisfy { $0.file == FileNames.dropped || $0.reason.hasPrefix("sequence number \(victim.first),") },
                "only the damaged frame's numbers are unaccounted for: \(report.problems)")
        let repaired = try await OutboxInspector.repair(path: dir, logger: quietLogger)
        #expect(repaired.remaining.isEmpty, "\(repaired)")
        let after = try OutboxReader(path: dir).stats()
        let tombstones = try OutboxReader(path: dir).tombstones()
        #expect(tombstones.dropped.subtracting(tombstones.dead).count == tombstones.dropped.count, "no number is both dropped and lost")
        #expect(after.dead < before.dropped / 2 && after.dead > 0, "only the damaged frame's numbers are lost: \(after.dead) of \(before.dropped)")
        #expect(after.dropped + after.dead == before.dropped, "\(before) → \(after)")
    }

    /// Issue 25, item 13: an invalid `limits.json` made append and stats fail while verify said clean
    /// and repair could not fix it; a fraction was truncated silently. Now verify names it, repair sets it
    /// aside, and a number that is not a whole count of bytes is refused.
    @Test func anInvalidLimitsFileIsNamedByVerifyAndSetAsideByRepair() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "3", "--max-disk", "2M"]).status == 0)
        let path = dir + "/" + DiskBudget.fileName
        for text in ["not json", "[]", #"{"maxDiskBytes": 0}"#, #"{"maxDiskBytes": -5}"#, #"{"maxDiskBytes": "2M"}"#,
                     #"{"maxDiskBytes": 2097152.5}"#, #"{"maxDiskBytes": true}"#, #"{"maxDiskBytes": 2097152, "onFull": "panic"}"#] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let append = try await runOutbox(["append", dir, "--count", "1"])
            #expect(append.status != 0 && append.stderr.contains(DiskBudget.fileName), "\(text): \(append.stderr)")
            let report = try OutboxInspector.verify(path: dir)
            #expect(report.problems.map(\.file) == [DiskBudget.fileName], "\(text): \(report.problems)")
        }
        let repaired = try await OutboxInspector.repair(path: dir, logger: quietLogger)
        #expect(repaired.remaining.isEmpty && repaired.actions.contains { $0.contains("aside") }, "\(repaired)")
        #expect(FileManager.default.fileExists(atPath: path + ".broken"), "kept, not deleted")
        #expect(try await runOutbox(["append", dir, "--count", "1"]).status == 0)
        #expect(try OutboxReader(path: dir).stats().maxDiskBytes == nil)
    }

    /// Messages a relay already holds (its sink away) and the writer then drops are never published.
    @Test func droppedMessagesARelayAlreadyHeldAreNotPublished() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var c = OutboxConfiguration()
        c.maxDiskBytes = 1 << 20
        c.onFull = .dropOldest
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        let recording = RecordingSink()
        let sink = OutageSink(inner: recording)
        sink.takeDown()
        var rc = relayConfiguration()
        rc.maxOutageBackoff = .milliseconds(20)
        try await running(OutboxRelay(path: dir, sink: sink, configuration: rc, outbox: outbox, logger: quietLogger)) {
            for i in 0..<6000 { try await outbox.append(sampleMessage(i, payloadSize: 200)) }
            let stats = try OutboxReader(path: dir).stats()
            #expect(stats.dropped > 0, "the budget overflowed: \(stats)")
            sink.bringBack()
            try await eventually("every message not dropped is published") { recording.published.count == Int(stats.pending) }
            let dropped = try OutboxReader(path: dir).tombstones().dropped
            #expect(!recording.published.contains { dropped.contains($0.seq) }, "a dropped message reached the sink")
        }
        try await outbox.close()
    }

    /// The long outage, scaled down: 200,000 messages at a steady rate into an 8 MiB budget with drop-oldest
    /// and no relay; then a relay comes back. The budget holds throughout, the newest messages are
    /// delivered, and the used bytes come back to about one segment. (The drain rate is printed, not
    /// asserted: speed is measured by `outbox bench`.)
    @Test func aLongOutageIntoABudgetThenTheRelayComesBack() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let budget: Int64 = 8 << 20
        var c = OutboxConfiguration()
        c.maxDiskBytes = budget
        c.onFull = .dropOldest
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        var peak: Int64 = 0
        for chunk in 0..<2000 {
            try await outbox.append(contentsOf: (0..<100).map { sampleMessage(chunk * 100 + $0, payloadSize: 150) })
            if chunk % 50 == 0 { peak = max(peak, try DiskBudget.usage(of: directory)) }
        }
        let before = try OutboxReader(path: dir).stats()
        #expect(peak <= budget && before.usedBytes <= budget, "the budget holds through the outage (peak \(peak))")
        #expect(before.lastSeq == 200_000 && before.dropped + before.pending == 200_000 && before.dropped > 100_000, "\(before)")
        let sink = RecordingSink()
        let started = ContinuousClock.now
        try await running(OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)) {
            try await eventually("the backlog drains", timeout: .seconds(120)) { sink.published.count == Int(before.pending) }
            let took = ContinuousClock.now - started
            try await eventually("the used bytes come back to about one segment") {
                try DiskBudget.usage(of: directory) <= budget / 16 + (64 << 10)
            }
            let seconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            print("[aLongOutageIntoABudget] \(before.pending) messages drained in \(String(format: "%.1f", seconds)) s "
                  + "(\(Int(Double(before.pending) / max(seconds, 0.001))) msg/s); \(before.dropped) dropped; peak usage \(peak) of \(budget) bytes")
        }
        #expect(Set(sink.published.map(\.seq)) == Set(before.firstSeq...200_000), "the newest that fit, each once")
        try await outbox.close()
    }
}

