import Foundation
import Testing
@testable import Outbox

@Suite("Tombstones and compaction")
struct TombstoneTests {
    @Test func acknowledgementsAreDurableAndShowInStatus() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...10 { try await outbox.append(sampleMessage(i)) }
        let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.acknowledge([1, 2, 3, 7])
        try await log.acknowledge([5], as: .dead)
        try await log.close()

        let reader = try OutboxReader(path: dir)
        let t = try reader.tombstones()
        #expect(t.published.ranges == [1...3, 7...7])
        #expect(t.dead.ranges == [5...5])
        #expect(try reader.pendingMessages().map(\.seq) == [4, 6, 8, 9, 10])
        #expect(try reader.pendingMessages(from: 8, limit: 2).map(\.seq) == [8, 9])
        let s = try reader.stats()
        #expect(s.pending == 5 && s.published == 4 && s.dead == 1 && s.lastSeq == 10)
        #expect(s.oldestPendingSeq == 4)
        #expect(s.writerPid == getpid())
        try await outbox.close()

        // Reopening reads the same tombstones back.
        let reopened = try await TombstoneLog.open(at: dir, logger: quietLogger)
        #expect(reopened.snapshot == t)
        try await reopened.close()
    }

    @Test func onlyOneTombstoneWriterAtATime() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let first = try await TombstoneLog.open(at: dir, logger: quietLogger)
        await #expect { try await TombstoneLog.open(at: dir, logger: quietLogger) } throws: {
            guard let e = $0 as? OutboxError else { return false }
            return e.code == .locked && e.message.contains("pid \(getpid())")
        }
        try await first.close()
        let second = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await second.close()
        try await outbox.close()
    }

    @Test func rollAndCompactionUnderLoadKeepEveryPendingMessage() async throws {
        let seed = testSeed("rollAndCompactionUnderLoad")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 2048), logger: quietLogger)
        let log = try await TombstoneLog.open(at: dir, checkpointBytes: 256, logger: quietLogger)
        let total = 1200
        // Producers append while this task acknowledges in near order (some held back) and compacts.
        let producer = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for p in 0..<4 {
                    group.addTask { for i in 0..<(total / 4) { try await outbox.append(sampleMessage(p * 10_000 + i)) } }
                }
                try await group.waitForAll()
            }
        }
        var acknowledged = Set<UInt64>()
        var heldBack = Set<UInt64>()
        var removed = 0, checkpoints = 0
        let reader = try OutboxReader(path: dir)
        while acknowledged.count + heldBack.count < total {
            let pending = try reader.pendingMessages(limit: 64, tombstones: log.snapshot).map(\.seq).filter { !heldBack.contains($0) }
            var batch: [UInt64] = []
            for seq in pending {
                if UInt64.random(in: 0..<100, using: &g) == 0 && heldBack.count < 5 { heldBack.insert(seq) } else { batch.append(seq) }
            }
            if !batch.isEmpty {
                try await log.acknowledge(batch)
                acknowledged.formUnion(batch)
            }
            let report = try await log.compact()
            removed += report.removedSegments.count
            if report.checkpoint != nil { checkpoints += 1 }
            if pending.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        }
        try await producer.value
        try await log.acknowledge(heldBack)
        let report = try await log.compact(forceCheckpoint: true)
        removed += report.removedSegments.count
        #expect(removed > 0, "fully finished segments were removed")
        #expect(checkpoints > 0 || report.checkpoint != nil)
        try await log.close()
        try await outbox.close()

        // Everything appended is finished; reopen both sides and check the state is whole.
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.lastSeq == UInt64(total))
        #expect(stats.pending == 0 && stats.published == UInt64(total))
        #expect(stats.tombstoneFiles == 1)
        #expect(stats.firstSeq > 1, "early segments are gone")
        #expect(stats.lastCompactionMicros != nil)
        let again = try await Outbox.open(at: dir, logger: quietLogger)
        #expect(try await again.append(sampleMessage(0)) == UInt64(total + 1), "numbering never goes back after compaction")
        try await again.close()
        let log2 = try await TombstoneLog.open(at: dir, logger: quietLogger)
        #expect(log2.snapshot.published.ranges == [1...UInt64(total)])
        try await log2.close()
    }

    @Test func aSegmentWithOnePendingMessageIsKept() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 400), logger: quietLogger)
        for i in 1...20 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let before = try segmentNames(dir)
        let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.acknowledge((1...20).filter { $0 != 2 })
        let report = try await log.compact(forceCheckpoint: true)
        #expect(report.removedSegments.isEmpty, "segment 1 holds pending seq 2, and only a prefix is removed")
        try await log.acknowledge([2])
        let report2 = try await log.compact()
        #expect(report2.removedSegments == Array(before.dropLast()), "all sealed segments go; the active one stays")
        try await log.close()
        #expect(try OutboxReader(path: dir).pendingMessages().isEmpty)
    }

    @Test func tornTombstoneTailIsTruncatedByTheWriterAndIgnoredByReaders() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...5 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.acknowledge([1])
        try await log.acknowledge([2])
        try await log.close()
        let path = dir + "/" + FileNames.tombstones(1)
        let size = try fileSize(path)
        truncate(path, off_t(size - 2))
        #expect(try OutboxReader(path: dir).tombstones().published.ranges == [1...1])
        let reopened = try await TombstoneLog.open(at: dir, logger: quietLogger)
        #expect(reopened.snapshot.published.ranges == [1...1])
        try await reopened.close()
        #expect(try fileSize(path) < size - 2)
    }
}

@Suite("Dead-letter records")
struct DeadLetterRecordTests {
    /// FORMAT.md §5a: the record's own headers are the leading run of the four names, each once, in any
    /// order; a missing field or a number that is not plain decimal reads as empty or 0; everything from
    /// the first other header on is the message's.
    @Test func theOwnHeadersAreTheLeadingRunAndBadNumbersReadAsZero() throws {
        let tmp = TemporaryDirectory()
        let dir = try OutboxDirectory.open(tmp.sub("ob"), create: true, sys: LinuxSystemCalls())
        let id = OutboxID.random()
        let first = DeadLetter(seq: 1, message: OutboxMessage(type: "T", payload: [1]), reason: "rejected", lastError: "too big",
                               attempts: 3, deadAtMicros: 42, redriven: false)
        try DeadLetterLog.append([first], in: dir, outboxID: id, maxRecordSize: 1 << 20)
        // A record written by another implementation: own headers out of order, a bad number, one missing,
        // and a message header named like one of them after a header of the message's own.
        let crafted = OutboxMessage(type: "T", headers: [
            .init("outbox-dead-reason", "expired"), .init("outbox-dead-attempts", "0x12"),
            .init("tenant", "a"), .init("outbox-dead-at", "7"), .init("outbox-dead-error", "not mine"),
        ], payload: [2])
        let body = try MessageCodec.encode([crafted], compressionThreshold: nil, maxBody: 1 << 20)
        let file = try dir.openFile(DeadLetterLog.fileName, writable: true)
        let end = try file.size()
        try file.write(FrameHeader.frame(kind: .deadLetter, first: 2, count: 1, body: body, identity: FileIdentity(outboxID: id, base: 1), offset: end,
                                         tag: FrameHeader.writeTag(start: end, version: FileHeader.currentVersion)),
                       at: end)
        let letters = try DeadLetterLog.list(in: dir, outboxID: id)
        #expect(letters.count == 2)
        #expect(letters[0] == first)
        let d = letters[1]
        #expect(d.reason == "expired" && d.attempts == 0 && d.deadAtMicros == 0 && d.lastError == "", "\(d)")
        #expect(d.message.headers == [.init("tenant", "a"), .init("outbox-dead-at", "7"), .init("outbox-dead-error", "not mine")])
    }
}

@Suite("Format versions")
struct FormatVersionTests {
    /// FORMAT.md §9: an outbox written by a version-1 build opens; an expired tombstone, which a version-1
    /// file cannot hold, first moves the tombstones into a version-2 checkpoint.
    @Test func aVersionOneTombstoneFileIsCheckpointedBeforeItGetsAnExpiredRange() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        try await checkpointsAnOlderTombstoneFile(dir, olderVersion: 1, acknowledged: [1: .published]) { log in
            try await log.acknowledge([2], as: .expired)
        }
        let t = try OutboxReader(path: dir).tombstones()
        #expect(t.status(of: 1) == .published && t.status(of: 2) == .expired && t.status(of: 3) == .pending)
    }

    /// An outbox's tombstone file of `olderVersion` (acknowledged as given, then downgraded as an older
    /// build would have written it) gets a record it cannot hold (`newer`): the tombstones move into a
    /// new generation of the current version first, and verify finds nothing.
    private func checkpointsAnOlderTombstoneFile(_ dir: String, olderVersion: UInt16, acknowledged: [UInt64: MessageStatus],
                                                 newer: (TombstoneLog) async throws -> Void) async throws {
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...4 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        var log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        for (seq, status) in acknowledged.sorted(by: { $0.key < $1.key }) { try await log.acknowledge([seq], as: status) }
        try await log.close()
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("tombstones-") })
        try downgrade(dir + "/" + name, to: olderVersion, kind: .tombstones)
        log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await newer(log)
        try await log.close()
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("tombstones-") }
        #expect(files.count == 1 && files[0] != name, "checkpointed into a new generation: \(files)")
        let header = try FileHeader.decode(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + files[0])).prefix(64)), expecting: .tombstones)
        #expect(header.version == FileHeader.currentVersion)
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty)
    }

    /// Route frames (FORMAT.md §5c): what each route finished, its start, and the unrouted numbers are
    /// durable, read back by the writer and by readers, and kept by a checkpoint, which drops what the
    /// whole outbox finished from each route's sets and what a forgotten route held.
    @Test func routeProgressIsDurableAndCheckpointedWithoutWhatTheOutboxFinished() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...10 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        var log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.declareRoute("cloud")
        try await log.declareRoute("audit.v2", startingAt: 6)
        try await log.declareRoute("old")
        try await log.acknowledge([1, 2, 3, 4], route: "cloud")
        try await log.acknowledge([5], as: .dead, route: "cloud")
        try await log.acknowledge([7], as: .expired, route: "audit.v2")
        try await log.acknowledge([8], route: "old")
        try await log.acknowledge([1, 2, 3])  // every route that matched them is done
        try await log.acknowledge([9], as: .unrouted)
        await #expect(throws: OutboxError.self) { try await log.acknowledge([10], route: "no spaces") }
        await #expect(throws: OutboxError.self) { try await log.acknowledge([10], as: .unrouted, route: "cloud") }
        let before = log.snapshot
        try await log.close()

        let read = try OutboxReader(path: dir).tombstones()
        #expect(read.routes == before.routes && read.unrouted == before.unrouted)
        #expect(read.routes["cloud"]?.published.ranges == [1...4] && read.routes["cloud"]?.dead.ranges == [5...5])
        #expect(read.routes["audit.v2"]?.start == 6 && read.routes["audit.v2"]?.expired.ranges == [7...7])
        #expect(read.finished(forRoute: "audit.v2").ranges == [1...5, 7...7, 9...9])
        #expect(read.finished(forRoute: "cloud").ranges == [1...5, 9...9])
        #expect(read.status(of: 4) == .pending && read.status(of: 4, route: "cloud") == .published)
        #expect(read.status(of: 9) == .unrouted && read.status(of: 2, route: "audit.v2") == .published)
        #expect(read.status(of: 6, route: "audit.v2") == .pending && read.status(of: 6, route: "cloud") == .pending)
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.published == 3 && stats.unrouted == 1 && stats.pending == 6)

        log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        #expect(log.snapshot.routes == before.routes)
        try await log.forgetRoutes(["old"])
        #expect(log.snapshot.routes["old"] == nil)
        try await log.compact(forceCheckpoint: true)
        try await log.close()
        let checkpointed = try OutboxReader(path: dir).tombstones()
        #expect(checkpointed.routes["old"] == nil, "a forgotten route leaves with the checkpoint")
        #expect(checkpointed.routes["cloud"]?.published.ranges == [4...4], "what the outbox finished is not kept twice")
        #expect(checkpointed.routes["cloud"]?.dead.ranges == [5...5] && checkpointed.routes["audit.v2"]?.start == 6)
        #expect(checkpointed.finished(forRoute: "cloud") == read.finished(forRoute: "cloud"))
        #expect(checkpointed.unrouted.ranges == [9...9] && checkpointed.published.ranges == [1...3])
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty)
    }

    /// A version-4 tombstone file cannot hold route frames: the first one moves the set into a new
    /// generation of the current version first (FORMAT.md §9), and nothing it held is lost.
    @Test func aVersionFourTombstoneFileIsCheckpointedBeforeItGetsARouteFrame() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        try await checkpointsAnOlderTombstoneFile(dir, olderVersion: 4, acknowledged: [1: .published, 2: .expired]) { log in
            try await log.acknowledge([3], route: "cloud")
        }
        let t = try OutboxReader(path: dir).tombstones()
        #expect(t.status(of: 1) == .published && t.status(of: 2) == .expired && t.status(of: 3, route: "cloud") == .published)
    }
}
