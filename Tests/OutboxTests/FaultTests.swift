import Foundation
import Testing
@testable import Outbox

@Suite("Injected faults")
struct FaultTests {
    @Test func aFailedFdatasyncFailsStopUntilReopen() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        let outbox = try await Outbox.open(at: dir, configuration: configuration(sys: calls), logger: quietLogger)
        for i in 1...3 { try await outbox.append(sampleMessage(i)) }
        calls.fdatasyncError = EIO
        await #expect { try await outbox.append(sampleMessage(4)) } throws: { ($0 as? OutboxError)?.code == .syncFailed }
        calls.fdatasyncError = nil
        let syncsBefore = calls.fdatasyncCount
        await #expect { try await outbox.append(sampleMessage(5)) } throws: { ($0 as? OutboxError)?.code == .failedStop }
        #expect(calls.fdatasyncCount == syncsBefore, "fsync is never retried after a failure")
        try? await outbox.close()

        let reopened = try await Outbox.open(at: dir, logger: quietLogger)
        let seqs = try OutboxReader(path: dir).messages().map(\.seq)
        #expect(Array(seqs.prefix(3)) == [1, 2, 3], "acknowledged messages survive")
        let next = try await reopened.append(sampleMessage(6))
        #expect(next == UInt64(seqs.count + 1))
        try await reopened.close()
    }

    @Test func aFullDiskFailsTheCommitLosesNothingAndAppendsResume() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        let outbox = try await Outbox.open(at: dir, configuration: configuration(sys: calls), logger: quietLogger)
        for i in 1...3 { try await outbox.append(sampleMessage(i)) }
        let segment = dir + "/" + (try segmentNames(dir)[0])
        let before = try fileSize(segment)
        calls.limitWrites(to: 10)
        await #expect { try await outbox.append(sampleMessage(4)) } throws: { ($0 as? OutboxError)?.code == .noSpace }
        #expect(try fileSize(segment) <= before, "the partial frame was cut (with the space allocated ahead)")
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == [1, 2, 3], "nothing of the failed commit is left")
        calls.limitWrites(to: nil)
        #expect(try await outbox.append(sampleMessage(5)) == 4, "appends resume once space returns")
        try await outbox.close()
        let read = try OutboxReader(path: dir).messages()
        #expect(read.map(\.seq) == [1, 2, 3, 4])
        #expect(read.last?.message == sampleMessage(5).withID(read.last!.message.id).withTime(read.last!.message.createdAtMicros))
    }

    @Test func shortWritesAreCompletedNotTorn() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        calls.maxWriteChunk = 100
        let outbox = try await Outbox.open(at: dir, configuration: configuration(sys: calls), logger: quietLogger)
        for i in 1...20 { try await outbox.append(sampleMessage(i, payloadSize: 300)) }
        try await outbox.close()
        #expect(calls.shortWrites > 0)
        #expect(try OutboxReader(path: dir).messages().count == 20)
    }

    @Test func aFullDiskMidBatchKeepsTheCompleteFramesBeforeIt() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        let outbox = try await Outbox.open(at: dir, configuration: configuration(sys: calls), logger: quietLogger)
        try await outbox.append(sampleMessage(0))
        // Let a burst of concurrent commits run into a full disk somewhere in the middle of a batch.
        calls.limitWrites(to: 1500)
        let results = await withTaskGroup(of: Result<UInt64, any Error>.self) { group in
            for i in 1...40 { group.addTask { await Result(catching: { try await outbox.append(sampleMessage(i)) }) } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        calls.limitWrites(to: nil)
        let acknowledged = results.compactMap { try? $0.get() }
        #expect(acknowledged.count < 40)
        for r in results { if case .failure(let e) = r { #expect((e as? OutboxError)?.code == .noSpace) } }
        let more = try await outbox.append(sampleMessage(99))
        try await outbox.close()
        let stored = try OutboxReader(path: dir).messages().map(\.seq)
        #expect(stored == Array(1...more), "dense, with every acknowledged commit in it")
        for seq in acknowledged { #expect(stored.contains(seq)) }
    }
}

extension OutboxMessage {
    func withID(_ id: MessageID) -> OutboxMessage {
        var m = self
        m.id = id
        return m
    }
    func withTime(_ micros: Int64) -> OutboxMessage {
        var m = self
        m.createdAtMicros = micros
        return m
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

@Suite("Injected faults during compaction")
struct CompactionFaultTests {
    private func setUp(_ dir: String, calls: FaultInjectingCalls) async throws -> TombstoneLog {
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 400), logger: quietLogger)
        for i in 1...30 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let log = try TombstoneLog(openingAt: dir, checkpointBytes: 1 << 20, logger: quietLogger, sys: calls)
        try await log.acknowledge(1...20)
        return log
    }

    @Test func aFailedUnlinkKeepsTheSegmentsAndCompactionResumes() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        let log = try await setUp(dir, calls: calls)
        let before = try segmentNames(dir)
        calls.fail("unlink", with: EIO)
        await #expect { try await log.compact() } throws: { ($0 as? OutboxError)?.code == .io }
        #expect(try segmentNames(dir) == before)
        calls.fail("unlink", with: nil)
        let report = try await log.compact()
        #expect(!report.removedSegments.isEmpty)
        try await log.close()
        #expect(try OutboxInspector.verify(path: dir).isClean)
        #expect(try OutboxReader(path: dir).pendingMessages().map(\.seq) == Array(21...30))
    }

    @Test func aFailedRenameDuringACheckpointKeepsTheOldTombstones() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        let log = try await setUp(dir, calls: calls)
        calls.fail("rename", with: ENOSPC)
        await #expect { try await log.compact(forceCheckpoint: true) } throws: { ($0 as? OutboxError)?.code == .noSpace }
        calls.fail("rename", with: nil)
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: dir)).contains { $0.hasPrefix(".tmp-") }, "the temporary file is gone")
        #expect(try OutboxReader(path: dir).tombstones().published.ranges == [1...20])
        try await log.acknowledge([21])
        let report = try await log.compact(forceCheckpoint: true)
        #expect(report.checkpoint == FileNames.tombstones(2))
        try await log.close()
        #expect(try OutboxReader(path: dir).tombstones().published.ranges == [1...21])
    }

    @Test func aFailedTruncateAfterAShortWriteFailsStopAndRecoveryCutsTheTail() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let calls = FaultInjectingCalls()
        let outbox = try await Outbox.open(at: dir, configuration: configuration(sys: calls), logger: quietLogger)
        for i in 1...3 { try await outbox.append(sampleMessage(i)) }
        calls.limitWrites(to: 10)
        calls.fail("ftruncate", with: EIO)
        await #expect { try await outbox.append(sampleMessage(4)) } throws: { ($0 as? OutboxError)?.code == .io }
        calls.limitWrites(to: nil)
        calls.fail("ftruncate", with: nil)
        await #expect { try await outbox.append(sampleMessage(5)) } throws: { ($0 as? OutboxError)?.code == .failedStop }
        try? await outbox.close()
        let reopened = try await Outbox.open(at: dir, logger: quietLogger)
        #expect(try await reopened.append(sampleMessage(6)) == 4)
        try await reopened.close()
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == [1, 2, 3, 4])
    }
}

/// Faults injected from outside the process with libfiu's `fiu-run` (Debian `fiu-utils`, installed by
/// scripts/install-deps), which intercepts the libc calls of the real `outbox` tool.
@Suite("libfiu", .serialized)
struct LibfiuTests {
    private func fiuRun(_ spec: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/fiu-run") else {
            Issue.record("fiu-run is missing: run scripts/install-deps (Debian fiu-utils)")
            throw CancellationError()
        }
        return try await runProgram(URL(fileURLWithPath: "/usr/bin/fiu-run"), ["-x", "-c", spec, try outboxExecutable().path] + arguments)
    }

    @Test func fdatasyncEIOFromOutsideAcknowledgesNothing() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "3", "--print-ack"]).stdout == "1\n2\n3\n")
        let failed = try await fiuRun("enable name=posix/io/sync/fdatasync", ["append", dir, "--count", "5", "--print-ack"])
        #expect(failed.status == 74, "a failed fdatasync: EX_IOERR")
        #expect(failed.stdout.isEmpty, "nothing acknowledged after a failed fdatasync")
        #expect(failed.stderr.contains("fdatasync failed"), "\(failed.stderr)")
        let after = try await runOutbox(["append", dir, "--count", "1", "--print-ack"])
        #expect(after.status == 0)
        let stored = try OutboxReader(path: dir).messages().map(\.seq)
        #expect(Array(stored.prefix(3)) == [1, 2, 3])
        #expect(stored == Array(1...UInt64(stored.count)))
    }

    @Test func enospcFromOutsideLosesNothingAndAppendsResume() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "3"]).status == 0)
        let full = try await fiuRun("enable name=posix/io/rw/pwrite,failinfo=28", ["append", dir, "--count", "2", "--print-ack"])
        #expect(full.status == 74, "a full disk: EX_IOERR")
        #expect(full.stdout.isEmpty)
        #expect(full.stderr.contains("No space left on device"), "\(full.stderr)")
        #expect(try await runOutbox(["verify", dir]).status == 0)
        let resumed = try await runOutbox(["append", dir, "--count", "2", "--print-ack"])
        #expect(resumed.stdout == "4\n5\n")
    }
}
