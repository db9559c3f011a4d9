import Foundation
import Testing
@testable import Outbox

@Suite("Lanes in the log")
struct LaneTests {
    /// A commit whose messages are all in `normal` is a kind-1 frame as before; one with other lanes is a
    /// kind-14 frame whose summary names its lanes in order of first use; every message reads back in its lane.
    @Test func aCommitKeepsEachMessagesLane() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let lanes: [OutboxLane] = [.bulk, .normal, .critical, "camera-1", .bulk, .critical]
        try await outbox.append(contentsOf: lanes.enumerated().map { i, lane in
            OutboxMessage(type: "T", key: "k\(i % 2)", payload: [UInt8(i)], lane: lane)
        })
        try await outbox.append(OutboxMessage(type: "T", payload: [9]))
        try await outbox.close()
        let messages = try OutboxReader(path: dir).messages()
        #expect(messages.map(\.message.lane) == lanes + [.normal])
        let raw = try OutboxInspector.rawWalk(path: dir).first { $0.name.hasPrefix("segment-") }!
        let kinds = raw.entries.compactMap { entry -> String? in if case .frame(_, _, let kind, _, _) = entry { kind } else { nil } }
        #expect(kinds == ["lane-messages", "messages"])
        let file = try OutboxReader(path: dir).directory.openFile(raw.name, writable: false)
        let body = try file.read(at: Int64(FileHeader.size + FrameHeader.size), count: 64)
        let summary = try LaneSummary.decode(body)
        #expect(summary.lanes == ["bulk", "normal", "critical", "camera-1"])
    }

    /// A lane name that is not one (empty, too long, upper case, a space) is refused before anything is
    /// written, naming the message and the lane; so is a commit of more than 255 lanes.
    @Test func aBadLaneIsRefusedAtAppend() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for bad in ["", String(repeating: "a", count: 33), "Critical", "a b", "é"] {
            await #expect { try await outbox.append(OutboxMessage(type: "T", payload: [], lane: OutboxLane(bad))) } throws: {
                ($0 as? OutboxError)?.code == .invalidArgument && "\($0)".contains("its lane \(bad.debugDescription)")
            }
        }
        await #expect { try await outbox.append(contentsOf: (0..<256).map { OutboxMessage(type: "T", payload: [], lane: OutboxLane("l\($0)")) }) } throws: {
            ($0 as? OutboxError)?.code == .invalidArgument && "\($0)".contains("more than 255")
        }
        try await outbox.close()
        #expect(try OutboxReader(path: dir).messages().isEmpty)
    }

    /// Every sealed segment's lane filter has the bit of each lane its messages are in (and no other, for
    /// these lanes' bits); a reader's walk checks the seal against its frames.
    @Test func aSealCarriesTheLanesOfItsSegment() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 1000), logger: quietLogger)
        let pattern: [OutboxLane] = [.critical, .bulk, .bulk, .normal, "camera-1", .bulk, .bulk, .bulk]
        for i in 0..<64 { try await outbox.append(OutboxMessage(type: "T", payload: [UInt8](repeating: 1, count: 100), lane: pattern[i / 8])) }
        try await outbox.close()
        let reader = try OutboxReader(path: dir)
        let messages = try reader.messages()
        let names = try segmentNames(dir)
        #expect(names.count > 4)
        for name in names.dropLast() {
            let segment = try SegmentFile.open(name, base: FileNames.parseSegment(name)!, in: reader.directory)
            let seal = try #require(try segment.scanner.sealAtEnd(), "\(name) is sealed")
            let expected = messages.filter { $0.segment == name }.reduce(UInt64(0)) { $0 | LaneSummary.filterBit($1.message.lane.name) }
            #expect(seal.lanes == expected, "\(name)")
            #expect(seal.mayHold(laneBit: LaneSummary.filterBit("critical")) == messages.contains { $0.segment == name && $0.message.lane == .critical })
        }
        #expect(try OutboxInspector.verify(path: dir).problems.isEmpty)
    }

    /// Bodies that break the lane rules of FORMAT.md §4b are damage: an index beyond the summary, a lane no
    /// record uses, lanes out of their order of first use, a name twice, a lane flag in a segment record.
    @Test func aBodyThatBreaksTheLaneRulesIsDamage() throws {
        let messages = [OutboxMessage(id: .v7(), type: "T", payload: [1], createdAt: Date(), lane: .critical),
                        OutboxMessage(id: .v7(), type: "T", payload: [2], createdAt: Date(), lane: .bulk)]
        let summary = LaneSummary.encode(["critical", "bulk"])
        let good = try MessageCodec.encode(messages, compressionThreshold: nil, maxBody: 1 << 20,
                                           lanes: .table([.critical, .bulk]), prefix: summary)
        func problem(_ body: [UInt8]) -> String? {
            FrameContent.problem(FrameHeader(bodyLength: UInt32(body.count), first: 1, count: 2, kind: .laneMessages, flags: 1), body,
                                 in: .segment, version: 6, encrypted: false, maxBody: 1 << 20)
        }
        #expect(problem(good) == nil)
        let firstRecord = summary.count
        let secondRecord = firstRecord + 4 + Int(good[firstRecord..<(firstRecord + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        let indexAt = { (record: Int) in record + 4 + 16 + 8 + 1 }
        var beyond = good
        beyond[indexAt(secondRecord)] = 2
        #expect(problem(beyond)?.contains("lane index 2") == true)
        var unused = good
        unused[indexAt(secondRecord)] = 0  // both critical: bulk is named but unused
        #expect(problem(unused)?.contains("names 2 lanes but the records use 1") == true)
        var swapped = good
        swapped[indexAt(firstRecord)] = 1
        swapped[indexAt(secondRecord)] = 0
        #expect(problem(swapped)?.contains("a lane no record used yet") == true)
        let twice = LaneSummary.encode(["bulk", "bulk"]) + good[firstRecord...]
        #expect(problem(Array(twice))?.contains("named twice") == true)
        var flagged = try MessageCodec.encode([messages[0]], compressionThreshold: nil, maxBody: 1 << 20)
        flagged[4 + 16 + 8] |= MessageCodec.laneFlag
        #expect(FrameContent.problem(FrameHeader(bodyLength: UInt32(flagged.count), first: 1, count: 1, kind: .messages, flags: 1), flagged,
                                     in: .segment, version: 6, encrypted: false, maxBody: 1 << 20)?.contains("unknown record flags") == true)
    }

    /// The `lanes` fixture (written by `outbox append --lane`) reads back lane by lane; its seals name
    /// their lanes.
    @Test func theLanesFixtureReadsAsWritten() throws {
        let fixture = try #require(Fixture.all.first { $0.name == "lanes" })
        let tmp = TemporaryDirectory()
        let dir = try fixture.copy(into: tmp)
        let lanes: [OutboxLane] = [.critical, .normal, .bulk, "camera-1"]
        let messages = try OutboxReader(path: dir).messages()
        #expect(messages.map(\.message.lane) == messages.map { lanes[Int($0.seq - 1) / 3] })
        #expect(try OutboxInspector.verify(path: dir).problems.isEmpty)
    }

    /// An outbox of format version 5 (the `v5-valid` fixture) takes a commit with lanes: its active segment
    /// cannot hold one, so the writer rolls to a segment of the current version (8) first; everything reads
    /// back, verify is clean. An empty version-5 segment is made a current one at open.
    @Test func anOlderOutboxTakesLanesInANewSegment() async throws {
        let fixture = try #require(Fixture.all.first { $0.name == "v5-valid" })
        let tmp = TemporaryDirectory()
        let dir = try fixture.copy(into: tmp)
        let before = try segmentNames(dir)
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(OutboxMessage(type: "T", payload: [1]))
        try await outbox.append(OutboxMessage(type: "T", payload: [2], lane: .critical))
        try await outbox.close()
        let after = try segmentNames(dir)
        #expect(after.count == before.count + 1, "a new segment for the commit with a lane")
        let reader = try OutboxReader(path: dir)
        let versions = try after.map { try SegmentFile.open($0, base: FileNames.parseSegment($0)!, in: reader.directory).header.version }
        #expect(versions == Array(repeating: 5, count: before.count) + [FileHeader.currentVersion])
        let messages = try reader.messages()
        #expect(messages.suffix(2).map(\.message.lane) == [.normal, .critical] && messages.count == 14)
        #expect(try OutboxInspector.verify(path: dir).problems.isEmpty)

        // An empty segment of version 5: a header and nothing else.
        let empty = tmp.sub("empty")
        try await Outbox.open(at: empty, logger: quietLogger).close()
        let path = empty + "/" + FileNames.segment(1)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[8] = 5
        let crc = CRC32.of(Array(bytes[0..<60]))
        bytes.replaceSubrange(60..<64, with: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try SegmentFile.open(FileNames.segment(1), base: 1, in: OutboxReader(path: empty).directory).header.version == 5)
        let reopened = try await Outbox.open(at: empty, logger: quietLogger)
        try await reopened.append(OutboxMessage(type: "T", payload: [3], lane: .bulk))
        try await reopened.close()
        #expect(try segmentNames(empty) == [FileNames.segment(1)])
        #expect(try SegmentFile.open(FileNames.segment(1), base: 1, in: OutboxReader(path: empty).directory).header.version == FileHeader.currentVersion)
        #expect(try OutboxReader(path: empty).messages().map(\.message.lane) == [.bulk])
    }

    /// A dead letter keeps its message's lane in a dead-letter file of version 6 (by name, flags bit 2).
    @Test func aDeadLetterKeepsItsLane() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(contentsOf: [OutboxMessage(type: "T", payload: [1], lane: .critical), OutboxMessage(type: "T", payload: [2])])
        try await outbox.close()
        let reader = try OutboxReader(path: dir)
        let stored = try reader.messages()
        let letters = stored.map { DeadLetter(seq: $0.seq, message: $0.message, reason: "r", lastError: "e", attempts: 1, deadAtMicros: 1, redriven: false) }
        try DeadLetterLog.append(letters, in: reader.directory, outboxID: reader.outboxID, maxRecordSize: 1 << 20)
        let read = try DeadLetterLog.list(in: reader.directory, outboxID: reader.outboxID)
        #expect(read.map(\.message.lane) == [.critical, .normal])
        #expect(read.map(\.message) == stored.map(\.message))
    }

    /// A critical message the sink rejected is dead-lettered with its lane, and a redrive republishes it in
    /// that lane.
    @Test func aRedrivenDeadLetterGoesBackToItsLane() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let rejecting = Shared(true)
        let sink = RecordingSink { m, _ in m.message.lane == .critical && rejecting.get() ? .rejected("schema mismatch") : .published }
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            let alarm = try await outbox.append(OutboxMessage(type: "Alarm", key: "a", payload: [1], lane: .critical))
            try await eventually("dead-lettered") { try OutboxReader(path: dir).deadLetters().map(\.seq) == [alarm] }
            #expect(try OutboxReader(path: dir).deadLetters().first?.message.lane == .critical)
            rejecting.set(false)
            #expect(try OutboxReader(path: dir).requestRedrive() == [alarm])
            try await eventually("republished") { sink.published.contains { $0.seq == alarm } }
            #expect(sink.published.first { $0.seq == alarm }?.message.lane == .critical, "republished in its lane")
        }
        try await outbox.close()
    }

    /// What sinks see: `Outbox-Lane` (or `outbox-lane`) for a lane other than `normal`, and `"lane"` in the
    /// file sink's record; nothing new for `normal`.
    @Test func sinksCarryTheLane() {
        let critical = StoredMessage(seq: 1, message: OutboxMessage(id: .v7(), type: "T", payload: [], lane: .critical), segment: "s", offset: 64,
                                     compressed: false)
        let normal = StoredMessage(seq: 2, message: OutboxMessage(id: .v7(), type: "T", payload: []), segment: "s", offset: 64, compressed: false)
        #expect(BrokerMetadata.headers(critical, idName: "id", titleCase: true).contains { $0 == ("Outbox-Lane", "critical") })
        #expect(BrokerMetadata.headers(critical, idName: "id").contains { $0 == ("outbox-lane", "critical") })
        #expect(!BrokerMetadata.headers(normal, idName: "id").contains { $0.name == "outbox-lane" })
        #expect(SinkRecord.json(critical).contains("\"key\":null,\"lane\":\"critical\",\"headers\""))
        #expect(!SinkRecord.json(normal).contains("\"lane\""))
        #expect(critical.wireBytes() == normal.wireBytes() + 16 + 8)
    }

    /// The tool: `append --lane` stores the lane, `dump --json` shows it and `--lane` filters by it; a bad
    /// lane is one line and a non-zero exit.
    @Test func theToolAppendsAndDumpsByLane() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "2", "--lane", "critical"]).status == 0)
        #expect(try await runOutbox(["append", dir, "--count", "3"]).status == 0)
        let all = try await runOutbox(["dump", dir, "--json"])
        let lanes = all.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["lane"] as? String
        }
        #expect(lanes == ["critical", "critical", "normal", "normal", "normal"])
        let critical = try await runOutbox(["dump", dir, "--json", "--lane", "critical"])
        #expect(critical.stdout.split(separator: "\n").count == 2)
        let stats = try await runOutbox(["stats", dir, "--lanes", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])
        let byLane = try #require(object["lanes"] as? [[String: Any]])
        #expect(byLane.map { "\($0["lane"]!)=\($0["pending"]!)" } == ["critical=2", "normal=3"], "\(byLane)")
        let text = try await runOutbox(["stats", dir, "--lanes"])
        #expect(text.stdout.contains("lane critical:") && text.stdout.contains("2 pending, oldest"), "\(text.stdout)")
        let bad = try await runOutbox(["append", dir, "--lane", "Not A Lane"])
        #expect(bad.status != 0 && bad.stderr.contains("--lane \"Not A Lane\"") && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
        let badDump = try await runOutbox(["dump", dir, "--lane", "x y"])
        #expect(badDump.status != 0 && badDump.stderr.contains("--lane \"x y\""), "\(badDump.stderr)")
    }

    /// Lane rules give a message appended in `normal` the lane of the first rule it matches (by type,
    /// header or key), stored with it; a message appended in another lane keeps it; a rule naming a bad
    /// lane is refused at open. The tool's `--lane-rule` does the same, and a malformed rule is one line.
    @Test func laneRulesGiveMessagesTheirLane() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = OutboxConfiguration()
        config.laneRules = [LaneRule(.type("Alarm*"), lane: .critical), LaneRule(.header("x-kind", equals: "log"), lane: .bulk),
                            LaneRule(.key("cam-*"), lane: "camera"), LaneRule(.type("*"), lane: "rest")]
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(contentsOf: [
            OutboxMessage(type: "AlarmRaised", payload: [1]),
            OutboxMessage(type: "Reading", headers: [.init("x-kind", "log")], payload: [2]),
            OutboxMessage(type: "Frame", key: "cam-3", payload: [3]),
            OutboxMessage(type: "AlarmCleared", payload: [4], lane: .bulk),
            OutboxMessage(type: "Other", payload: [5]),
        ])
        try await outbox.close()
        #expect(try OutboxReader(path: dir).messages().map(\.message.lane) == [.critical, .bulk, "camera", .bulk, "rest"])
        var bad = OutboxConfiguration()
        bad.laneRules = [LaneRule(.all, lane: "Not A Lane")]
        #expect(throws: OutboxError.self) { try Outbox(openingAt: tmp.sub("other"), configuration: bad, logger: quietLogger) }
        let cli = tmp.sub("cli")
        #expect(try await runOutbox(["append", cli, "--type", "AlarmRaised", "--lane-rule", "critical:type=Alarm*"]).status == 0)
        #expect(try await runOutbox(["append", cli, "--type", "Reading", "--lane-rule", "critical:type=Alarm*"]).status == 0)
        #expect(try OutboxReader(path: cli).messages().map(\.message.lane) == [.critical, .normal])
        for (rule, says) in [("critical", "is not LANE:FIELD=TEXT"), ("Big:type=x", "names a lane that"), ("critical:colour=red", "has no condition")] {
            let r = try await runOutbox(["append", cli, "--lane-rule", rule])
            #expect(r.status == 64 && r.stderr.contains(says) && r.stderr.split(separator: "\n").count == 1, "\(rule): \(r.stderr)")
        }
    }
}
