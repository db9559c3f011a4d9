import Foundation
import Testing
@testable import Outbox

/// ``DamagePolicy/quarantine``, end to end: a sealed segment of a live outbox is damaged; opened with
/// quarantine (by the writer, or by a relay reading it), the damaged file goes to `quarantine/` byte for
/// byte, every intact message is published, and the lost numbers are tombstoned as lost.
@Suite("Quarantine")
struct QuarantineTests {
    /// An outbox of several segments; flips one byte inside the second frame of its second segment, or
    /// with `atItsEnd` zeroes its last 48 bytes (its 40-byte seal and the end of its last frame: then open, which
    /// checks a sealed segment by its seal, checks it in full). Returns the damaged segment's name and
    /// its bytes after the damage.
    private func damagedOutbox(_ dir: String, atItsEnd: Bool = false) async throws -> (name: String, bytes: Data, total: Int) {
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 8 << 10), logger: quietLogger)
        for i in 1...300 { try await outbox.append(sampleMessage(i, payloadSize: 100)) }
        try await outbox.close()
        let names = try segmentNames(dir)
        #expect(names.count >= 4)
        let victim = names[1]
        let offsets = Array(Set(try OutboxReader(path: dir).messages().filter { $0.segment == victim }.map(\.offset))).sorted()
        let path = dir + "/" + victim
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        if atItsEnd {
            bytes.replaceSubrange((bytes.count - 48)..<bytes.count, with: Data(count: 48))
        } else {
            bytes[Int(offsets[1]) + 30] ^= 0x20
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        return (victim, bytes, 300)
    }

    private func relayPublishesEveryIntactMessage(_ dir: String, relayConfiguration c: OutboxRelayConfiguration, outbox: Outbox?) async throws
        -> (published: Set<UInt64>, lost: Set<UInt64>) {
        let sink = RecordingSink()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: c, outbox: outbox, logger: quietLogger)
        return try await running(relay) {
            try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
            let published = Set(sink.published.map(\.seq))
            let lost = try OutboxReader(path: dir).lostSequenceNumbers()
            return (published, Set(lost.ranges.flatMap { Array($0) }))
        }
    }

    @Test func theWriterQuarantinesADamagedSealedSegmentAtOpenAndTheRelayPublishesEveryIntactMessage() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let (victim, damaged, total) = try await damagedOutbox(dir, atItsEnd: true)
        await #expect(throws: OutboxError.self, "refused by default") { try await Outbox.open(at: dir, logger: quietLogger) }

        var c = configuration(segmentSize: 8 << 10)
        c.onDamage = .quarantine
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        let kept = try Data(contentsOf: URL(fileURLWithPath: dir + "/quarantine/" + victim))
        #expect(kept == damaged, "the quarantined file is the damaged one, byte for byte")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/quarantine")[.posixPermissions] as? Int
        #expect(mode == 0o700)
        let appended = try await outbox.append(sampleMessage(301))
        let (published, lost) = try await relayPublishesEveryIntactMessage(dir, relayConfiguration: relayConfiguration(), outbox: outbox)
        try await outbox.close()
        #expect(!lost.isEmpty && lost.count < 10, "only the damaged frame's numbers are lost: \(lost)")
        #expect(published == Set(1...UInt64(total + 1)).subtracting(lost), "every intact message published")
        #expect(appended == UInt64(total + 1), "the numbering goes on")
        let report = try OutboxInspector.verify(path: dir)
        #expect(report.problems.filter { $0.kind != .leftoverFile }.isEmpty, "\(report.problems)")
        #expect(report.quarantined.map(\.name) == [victim] && report.quarantined[0].reason.contains("checksum"), "\(report.quarantined)")
        let verify = try await runOutbox(["verify", dir])
        #expect(verify.status == 0 && verify.stdout.contains("quarantine/\(victim): quarantined"), "\(verify.stdout)")
        #expect(try OutboxReader(path: dir).stats().quarantinedFiles == 1)
    }

    /// Issue 25, item 17: the record was created 0644 and never synced, and the kept copy's entry in
    /// `quarantine/` was not synced before the original was replaced.
    @Test func theRecordAndTheKeptCopyAreDurableAndPrivateBeforeTheOriginalIsReplaced() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let (victim, _, _) = try await damagedOutbox(dir, atItsEnd: true)
        let calls = RecordingCalls()
        var c = configuration(segmentSize: 8 << 10, sys: calls)
        c.onDamage = .quarantine
        try await Outbox.open(at: dir, configuration: c, logger: quietLogger).close()
        let record = dir + "/quarantine/" + victim + ".json"
        let mode = try FileManager.default.attributesOfItem(atPath: record)[.posixPermissions] as? Int
        #expect(mode == 0o600, "the record is private like every outbox file: \(String(mode ?? 0, radix: 8))")
        #expect((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: record))) as? [String: Any])?["file"] as? String == victim)
        let log = calls.directoryLog
        func index(_ line: (String) -> Bool, after start: Int = 0) -> Int? { log[start...].firstIndex(where: line) }
        let madeRecord = index { $0.hasSuffix("/quarantine .tmp-\(victim).json \(victim).json") && $0.hasPrefix("rename ") }
        let linked = index { $0.hasPrefix("link ") && $0.hasSuffix(" \(victim) quarantine/\(victim)") }
        let replaced = index { $0.hasPrefix("rename ") && $0.hasSuffix(" .tmp-\(victim) \(victim)") }
        guard let madeRecord, let linked, let replaced else { Issue.record("\(log)"); return }
        #expect(log[madeRecord + 1].hasPrefix("fsync ") && log[madeRecord + 1].hasSuffix("/quarantine"), "\(log)")
        #expect(index({ $0.hasPrefix("fsync ") && $0.hasSuffix("/quarantine") }, after: linked).map { $0 < replaced } == true,
                "the link into quarantine/ is synced before the original is replaced: \(log)")
    }

    /// Issue 25, item 13: a seal whose `first` is wrong (valid checksum) made open refuse the segment after
    /// it, and quarantine could not help. Open now names the sealed segment at its seal, and quarantine
    /// rebuilds it.
    @Test func aSealWhoseNumbersAreWrongIsNamedAndQuarantined() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 8 << 10), logger: quietLogger)
        for i in 1...300 { try await outbox.append(sampleMessage(i, payloadSize: 100)) }
        try await outbox.close()
        let victim = try segmentNames(dir)[1]
        let path = dir + "/" + victim
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try FileHeader.decode(Array(bytes.prefix(FileHeader.size)), expecting: .segment)
        let at = bytes.count - Seal.frameSize(header.version)
        let h = bytes.withUnsafeBytes { FrameHeader.peek(UnsafeRawBufferPointer(rebasing: $0[at...])) }
        let wrong = FrameHeader.frame(kind: .seal, first: h.first + 1, count: h.count, body: Array(bytes[(at + FrameHeader.size)...]),
                                      identity: FileIdentity(outboxID: header.outboxID, base: header.base), offset: Int64(at), tag: h.flags)
        bytes.replaceSubrange(at..., with: wrong)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect { try Outbox(openingAt: dir, logger: quietLogger) } throws: {
            ($0 as? OutboxError)?.path?.hasSuffix("/" + victim) == true && ($0 as? OutboxError)?.offset == Int64(at)
        }
        var c = configuration(segmentSize: 8 << 10)
        c.onDamage = .quarantine
        try Outbox(openingAt: dir, configuration: c, logger: quietLogger).closeBlocking()
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == Array(1...300), "nothing lost: only the seal was wrong")
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty)
    }

    @Test func aRelayWithQuarantineTakesADamagedSealedSegmentOutOfTheWayAndPublishesTheRest() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let (victim, damaged, total) = try await damagedOutbox(dir)
        var c = relayConfiguration()
        c.onDamage = .quarantine
        let (published, lost) = try await relayPublishesEveryIntactMessage(dir, relayConfiguration: c, outbox: nil)
        #expect(!lost.isEmpty && lost.count < 10, "\(lost)")
        #expect(published == Set(1...UInt64(total)).subtracting(lost), "every intact message published, none skipped")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/quarantine/" + victim)) == damaged)
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty)
    }

    @Test func aRelayWithQuarantineSetsADamagedTombstoneFileAsideAndPublishesWhatItNoLongerKnowsWasPublished() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)) {
            for i in 1...50 {
                try await outbox.append(sampleMessage(i))
                try await eventually("message \(i) published") { sink.published.count >= i }
            }
        }
        try await outbox.close()
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("tombstones-") })
        let path = dir + "/" + name
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[FileHeader.size + 10] ^= 0x08  // the first tombstone frame
        try bytes.write(to: URL(fileURLWithPath: path))
        let refused = OutboxRelay(path: dir, sink: RecordingSink(), configuration: relayConfiguration(), logger: quietLogger)
        await #expect(throws: OutboxError.self, "refused by default") { try await refused.run() }

        var c = relayConfiguration()
        c.onDamage = .quarantine
        let again = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: again, configuration: c, logger: quietLogger)) {
            // Readers refuse the damaged file until the relay has set it aside.
            try await eventually("nothing pending") { (try? OutboxReader(path: dir).stats().pending) == 0 }
        }
        #expect(!again.published.isEmpty, "what the lost tombstones covered is published again (at least once)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/quarantine/" + name)) == bytes)
        let report = try OutboxInspector.verify(path: dir)
        #expect(report.problems.filter { $0.kind != .leftoverFile }.isEmpty && report.quarantined.map(\.name) == [name], "\(report)")
    }

    @Test func aRelayWithQuarantineSetsADamagedDeadLetterFileAside() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...3 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        let id = try OutboxReader(path: dir).outboxID
        let letters = (1...2).map { DeadLetter(seq: UInt64($0), message: sampleMessage($0), reason: "rejected", lastError: "no", attempts: 1,
                                               deadAtMicros: 1, redriven: false) }
        // Two writes: damage in the first, followed by the second, is corruption (damage followed by frames
        // of its own write only could be that write cut short, FORMAT.md §7).
        for letter in letters { try DeadLetterLog.append([letter], in: directory, outboxID: id, maxRecordSize: 4 << 20) }
        let path = dir + "/" + DeadLetterLog.fileName
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[FileHeader.size + 40] ^= 0x01  // inside the first of the two dead letters
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: OutboxError.self) { try DeadLetterLog.list(in: directory, outboxID: id) }
        var c = relayConfiguration()
        c.onDamage = .quarantine
        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: c, logger: quietLogger)) {
            try await eventually("the relay goes on and publishes") { sink.published.count == 3 }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/quarantine/" + DeadLetterLog.fileName)) == bytes)
        #expect(try DeadLetterLog.list(in: directory, outboxID: id).map(\.seq) == [2], "the intact dead letter is kept")
    }
}

