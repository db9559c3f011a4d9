import Foundation
import Testing
@testable import Outbox

/// Issue 25, item 2: after a full disk, the file sink glued the next batch onto a partial record.
@Suite("The file sink")
struct FileSinkTests {
    private func batch(_ seqs: ClosedRange<UInt64>) -> [StoredMessage] {
        seqs.map { seq in
            StoredMessage(seq: seq, message: sampleMessage(Int(seq), payloadSize: 300), segment: "s", offset: 0, compressed: false)
        }
    }

    /// Every line of `path` is one whole record, and the records are `seqs` in order.
    private func expectRecords(_ path: String, _ seqs: [UInt64], _ comment: Comment) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.isEmpty || text.hasSuffix("\n"), comment)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let found = lines.map { line -> UInt64? in
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return (object?["seq"] as? NSNumber)?.uint64Value
        }
        #expect(found == seqs.map { Optional($0) }, comment)
    }

    @Test func aFailedWriteOrSyncLeavesNoPartialRecord() async throws {
        let tmp = TemporaryDirectory()
        let path = tmp.sub("out.jsonl")
        let sys = FaultInjectingCalls()
        let sink = try FileSink(path: path, systemCalls: sys)
        #expect(await sink.publish(batch(1...3)) == Array(repeating: .published, count: 3))
        // The disk fills in the middle of the next batch: part of it was written.
        sys.limitWrites(to: 500)
        let full = await sink.publish(batch(4...9))
        #expect(full.allSatisfy { if case .unavailable = $0 { true } else { false } }, "\(full)")
        try expectRecords(path, [1, 2, 3], "the partial batch is cut")
        // Space returns: the batch goes out whole, and nothing is glued to anything.
        sys.limitWrites(to: nil)
        #expect(await sink.publish(batch(4...9)) == Array(repeating: .published, count: 6))
        try expectRecords(path, Array(1...9), "after the disk had room again")
        // A failed fdatasync: what was written may be lost, so it is cut too and sent again.
        sys.fdatasyncError = EIO
        #expect(await sink.publish(batch(10...11)).allSatisfy { if case .unavailable = $0 { true } else { false } })
        try expectRecords(path, Array(1...9), "the unsynced batch is cut")
        sys.fdatasyncError = nil
        // The cut itself failing: the next batch finds the partial record and sets it aside.
        sys.limitWrites(to: 100)
        sys.fail("ftruncate", with: EIO)
        #expect(await sink.publish(batch(10...11)).allSatisfy { if case .unavailable = $0 { true } else { false } })
        sys.limitWrites(to: nil)
        sys.fail("ftruncate", with: nil)
        #expect(await sink.publish(batch(10...11)) == [.published, .published])
        try expectRecords(path, Array(1...11), "the partial record is set aside before the batch")
        let aside = try String(contentsOfFile: path + ".partial", encoding: .utf8)
        #expect(aside.utf8.count == 101 && aside.hasPrefix("{\"id\":") && aside.hasSuffix("\n"), "kept, not deleted: \(aside)")
    }

    @Test func aPartialRecordFoundAtStartIsSetAside() async throws {
        let tmp = TemporaryDirectory()
        let path = tmp.sub("out.jsonl")
        let whole = SinkRecord.lines(batch(1...2))
        let torn = Array(SinkRecord.lines(batch(3...3)).prefix(40))
        try Data(whole + torn).write(to: URL(fileURLWithPath: path))
        let sink = try FileSink(path: path)
        #expect(await sink.publish(batch(3...4)) == [.published, .published])
        try expectRecords(path, [1, 2, 3, 4], "the torn record is moved out of the file")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + ".partial")) == Data(torn + [UInt8(ascii: "\n")]))
        // A file with no line end at all is one partial record.
        let lone = tmp.sub("lone.jsonl")
        try Data("{\"id\":".utf8).write(to: URL(fileURLWithPath: lone))
        let sink2 = try FileSink(path: lone)
        #expect(await sink2.publish(batch(1...1)) == [.published])
        try expectRecords(lone, [1], "only the new record is left")
        #expect(try String(contentsOfFile: lone + ".partial", encoding: .utf8) == "{\"id\":\n")
    }

    /// Issue 25, item 13: a write error waiting cannot fix (`EFBIG`, a full device such as `/dev/full`)
    /// was an outage that never ended; a full disk still is one.
    @Test func aWriteErrorWaitingCannotFixIsAMisconfigurationAFullDiskAnOutage() async throws {
        let tmp = TemporaryDirectory()
        let sys = FaultInjectingCalls()
        let sink = try FileSink(path: tmp.sub("out.jsonl"), systemCalls: sys)
        sys.limitWrites(to: 0, error: ENOSPC)
        #expect(await sink.publish(batch(1...1)).allSatisfy { if case .unavailable = $0 { true } else { false } })
        #expect(try await sink.checkAvailability() == .available, "a full disk is waited out")
        sys.limitWrites(to: 0, error: EFBIG)
        _ = await sink.publish(batch(1...1))
        await #expect { try await sink.checkAvailability() } throws: { ($0 as? OutboxError)?.code == .invalidArgument && "\($0)".contains("EFBIG") }
        sys.limitWrites(to: nil)
        #expect(await sink.publish(batch(1...1)) == [.published])
        #expect(try await sink.checkAvailability() == .available, "a write that succeeds clears it")
        let full = try FileSink(path: "/dev/full")
        #expect(await full.publish(batch(1...1)).allSatisfy { if case .unavailable = $0 { true } else { false } })
        await #expect { try await full.checkAvailability() } throws: { ($0 as? OutboxError)?.code == .invalidArgument }
    }
}
