import Foundation
import Testing
@testable import Outbox

@Suite("Inspection: verify, repair, raw dump, tail")
struct InspectionTests {
    private func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test(arguments: Fixture.all)
    func verifyAndRawDumpNameTheFixturesDamage(_ fixture: Fixture) async throws {
        let tmp = TemporaryDirectory()
        let dir = try fixture.copy(into: tmp)
        let e = fixture.expected
        let verify = try await runOutbox(["verify", dir, "--json"])
        let report = try json(verify.stdout)
        let problems = report["problems"] as! [[String: Any]]
        if e["open"] == "ok" && e["sizeAfterOpen"] == nil {
            #expect(verify.status == 0, "\(verify.stdout)")
            #expect(problems.isEmpty)
            return
        }
        #expect(verify.status == 1, "\(verify.stdout)")
        let first = try #require(problems.first)
        #expect(first["file"] as? String == e["file"])
        let expectedOffset = Int64(e["offset"] ?? e["sizeAfterOpen"]!)!
        #expect((first["offset"] as? NSNumber)?.int64Value == expectedOffset, "\(first)")
        let expectedKind = e["open"] == "ok" ? "torn-tail" : e["verifyKind"]!
        #expect(first["kind"] as? String == expectedKind, "\(first)")

        // The raw walk looks at each file alone: it finds damage in a file, not a gap between files, nor
        // what other files say of one (a later segment makes a segment sealed; the mark and the tombstones
        // name numbers): `rawFinds: nothing`.
        guard expectedKind != "sequence-gap", e["rawFinds"] != "nothing" else { return }
        let raw = try await runOutbox(["dump", "--raw", dir, "--json"])
        #expect(raw.status == 1, "damage found, as verify says: \(raw.stderr)")
        let entries = try raw.stdout.split(separator: "\n").map { try json(String($0)) }.filter { $0["file"] as? String == e["file"] }
        if expectedOffset >= Int64(FileHeader.size) {
            let damaged = entries.filter { $0["status"] as? String == "damaged" }
            #expect(damaged.map { ($0["offset"] as! NSNumber).int64Value } == [expectedOffset])
            let size = try fileSize(dir + "/" + e["file"]!)
            if e["open"] == "error", let d = damaged.first, let length = (d["length"] as? NSNumber)?.int64Value, expectedOffset + length < size {
                let after = entries.filter { $0["status"] as? String == "ok" && ($0["offset"] as! NSNumber).int64Value > expectedOffset }
                #expect(!after.isEmpty, "raw mode shows the frames after the damage")
            }
        } else {
            #expect((entries.first?["headerProblemOffset"] as? NSNumber)?.int64Value == expectedOffset)
        }
    }

    /// Issue 25, item 13: a tombstone file of another outbox, moved aside by repair, left the numbers below
    /// the first segment unfinished (stats counted them pending with nothing stored). They are lost now,
    /// as with a missing tombstone file.
    @Test func repairOfAForeignTombstoneFileFinishesWhatIsBelowTheFirstSegment() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 4 << 10), logger: quietLogger)
        for i in 1...200 { try await outbox.append(sampleMessage(i, payloadSize: 100)) }
        try await outbox.close()
        let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.acknowledge(Array(1...120))
        _ = try await log.compact(forceCheckpoint: true)
        try await log.close()
        let first = try OutboxReader(path: dir).stats().firstSeq
        #expect(first > 1, "segments were compacted away")
        let name = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("tombstones-") })
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        bytes[16] ^= 0xFF  // another outbox's id, with a valid header checksum
        let crc = CRC32.of(Array(bytes.prefix(60)))
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[60 + i] = $0[i] } }
        try bytes.write(to: URL(fileURLWithPath: dir + "/" + name))
        let result = try await OutboxInspector.repair(path: dir, logger: quietLogger)
        #expect(result.remaining.isEmpty, "\(result)")
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.pending == 200 - (first - 1), "only stored messages are pending: \(stats.pending)")
        #expect(stats.dead == first - 1, "the numbers below the first segment are lost")
    }

    @Test func aFlippedByteInA5000MessageOutboxIsNamedAndRepairedWithoutLosingTheRest() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 64 << 10), logger: quietLogger)
        for chunk in 0..<50 { try await outbox.append(contentsOf: (0..<100).map { sampleMessage(chunk * 100 + $0) }) }
        for i in 0..<5 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let before = try OutboxReader(path: dir).messages()
        let names = try segmentNames(dir)
        let victim = names[names.count / 2]
        let frames = Array(Set(before.filter { $0.segment == victim }.map(\.offset))).sorted()
        let path = dir + "/" + victim
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let flipAt = bytes.count / 2
        bytes[flipAt] ^= 0x04
        try bytes.write(to: URL(fileURLWithPath: path))
        let frameStart = frames.last { $0 <= Int64(flipAt) }!

        let verify = try await runOutbox(["verify", dir])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("\(victim) at offset \(frameStart): corrupt"), "\(verify.stdout)")
        let raw = try await runOutbox(["dump", "--raw", dir])
        #expect(raw.stdout.contains("offset \(frameStart): DAMAGED"))
        if let nextFrame = frames.first(where: { $0 > frameStart }) {
            #expect(raw.stdout.contains("offset \(nextFrame): messages frame"), "frames after the damage are shown")
        }

        let repair = try await runOutbox(["verify", dir, "--repair"])
        #expect(repair.status == 0, "\(repair.stdout)\(repair.stderr)")
        #expect(repair.stdout.contains("original kept as \(victim).broken"))
        #expect(FileManager.default.fileExists(atPath: path + ".broken"), "the damaged original is kept")
        #expect(try await runOutbox(["verify", dir]).status == 0)
        let after = try OutboxReader(path: dir).messages()
        let lost = Set(before.map(\.seq)).subtracting(after.map(\.seq))
        #expect(!lost.isEmpty && lost.count <= 100, "only the damaged commit is lost")
        #expect(after.map(\.message) == before.filter { !lost.contains($0.seq) }.map(\.message))
        #expect(try OutboxReader(path: dir).tombstones().dead == SequenceRangeSet(lost), "lost numbers are finished as dead")
        #expect(try OutboxReader(path: dir).lostSequenceNumbers() == SequenceRangeSet(lost))
        let list = try await runOutbox(["dead-letters", dir, "list"])
        let span = lost.count == 1 ? "\(lost.min()!)" : "\(lost.min()!)...\(lost.max()!)"
        #expect(list.stdout.contains("\(span)  lost"), "dead-letters list shows the numbers lost to the repair: \(list.stdout)")
        let reopened = try await Outbox.open(at: dir, logger: quietLogger)
        #expect(try await reopened.append(sampleMessage(0)) == UInt64(before.count + 1))
        try await reopened.close()
    }

    @Test func aTruncatedSegmentIsATornTailAndDumpListsEveryCompleteMessage() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...50 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let path = dir + "/" + (try segmentNames(dir)[0])
        let offsets = try OutboxReader(path: dir).messages().map(\.offset)
        truncate(path, off_t(offsets[49] + 20))
        let verify = try await runOutbox(["verify", dir])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("at offset \(offsets[49]): torn-tail"), "\(verify.stdout)")
        let dump = try await runOutbox(["dump", dir, "--json"])
        #expect(dump.status == 0)
        #expect(dump.stdout.split(separator: "\n").count == 49)
        let repair = try await runOutbox(["verify", dir, "--repair"])
        #expect(repair.stdout.contains("cut the torn tail") && repair.stdout.contains("the original is kept as"), "\(repair.stdout)")
        #expect(try fileSize(path + ".broken") == Int(offsets[49] + 20), "the original, every byte of it, is kept")
        #expect(try await runOutbox(["verify", dir]).status == 0)
    }

    /// Every number below the first segment must be tombstoned (FORMAT.md §1): a missing first segment
    /// is found by verify, and repair tombstones its numbers as lost, which dump then shows.
    @Test func aMissingFirstSegmentIsFoundAndItsNumbersBecomeLost() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 2048), logger: quietLogger)
        for i in 1...40 { try await outbox.append(sampleMessage(i, payloadSize: 100)) }
        try await outbox.close()
        let names = try segmentNames(dir)
        let secondBase = try #require(FileNames.parseSegment(names[1]))
        unlink(dir + "/" + names[0])
        let verify = try await runOutbox(["verify", dir])
        #expect(verify.status == 1 && verify.stdout.contains("below the first segment's base \(secondBase)"), "\(verify.stdout)")
        let repair = try await runOutbox(["verify", dir, "--repair"])
        #expect(repair.status == 0 && repair.stdout.contains("clean after repair"), "\(repair.stdout)")
        #expect(try OutboxReader(path: dir).lostSequenceNumbers() == SequenceRangeSet(1...(secondBase - 1)))
        let dump = try await runOutbox(["dump", dir, "--status", "dead"])
        #expect(dump.stdout.contains("1...\(secondBase - 1)") && dump.stdout.contains("lost"), "\(dump.stdout)")
    }

    @Test func repairRefusesWhileAWriterHoldsTheOutbox() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let repair = try await runOutbox(["verify", dir, "--repair"])
        #expect(repair.status == 75, "locked: EX_TEMPFAIL")
        #expect(repair.stderr.contains("refusing to repair") && repair.stderr.contains("pid \(getpid())"), "\(repair.stderr)")
        try await outbox.close()
    }

    @Test func dumpAndStatsWorkOnALiveOutboxWithoutDisturbingIt() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 16 << 10), logger: quietLogger)
        try await outbox.append(sampleMessage(0))
        let sink = RecordingSink()
        var relayConfig = relayConfiguration(sweep: .milliseconds(50))
        relayConfig.batchSize = 20
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfig, outbox: outbox, logger: quietLogger)
        let relayTask = Task { try await relay.run() }
        let producer = Task { for i in 1...3000 { try await outbox.append(sampleMessage(i, key: "k\(i % 9)")) } }
        var dumps = 0
        while !(producer.isCancelled) {
            let dump = try await runOutbox(["dump", dir, "--json"])
            #expect(dump.status == 0, "\(dump.stderr)")
            let seqs = dump.stdout.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["seq"] as? NSNumber
            }.map(\.uint64Value)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "a consistent, ordered view")
            let stats = try await runOutbox(["stats", dir, "--json"])
            #expect(stats.status == 0, "\(stats.stderr)")
            dumps += 1
            if sink.published.count >= 3001 || dumps > 200 { break }
        }
        try await producer.value
        try await eventually("everything published") { sink.published.count >= 3001 }
        relayTask.cancel()
        try await relayTask.value
        try await outbox.close()
        #expect(Set(sink.published.map(\.seq)) == Set(1...3001))
        #expect(dumps >= 2)
        #expect(try OutboxInspector.verify(path: dir).isClean)
    }

    @Test func tailSeesACommitMadeAfterItStarted() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let tail = ChildProcess()
        tail.executableURL = try outboxExecutable()
        tail.arguments = ["tail", dir, "--json"]
        let out = Pipe()
        tail.standardOutput = out
        tail.standardError = FileHandle.nullDevice
        try tail.run()
        defer { tail.terminate(); tail.waitUntilExit() }
        // Commit until tail has reported one made after it started (it starts at the next commit).
        let reader = out.fileHandleForReading
        let seen = Shared("")
        let readTask = Task {
            try await onOwnThread {
                while true {
                    let data = reader.availableData
                    if data.isEmpty { return }
                    seen.mutate { $0 += String(decoding: data, as: UTF8.self) }
                }
            }
        }
        var appended: [UInt64] = []
        try await eventually("tail printed a commit made after it started") {
            appended.append(try await outbox.append(sampleMessage(appended.count + 2)))
            return appended.contains { seen.get().contains("\"seq\":\($0),") }
        }
        tail.terminate()
        try await readTask.value
        try await outbox.close()
    }

    @Test func badInputIsOneLineAndANonZeroExit() async throws {
        let tmp = TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: tmp.sub("notes.txt"), contents: Data("hello".utf8))
        let raw = try await runOutbox(["dump", "--raw", tmp.sub("notes.txt")])
        #expect(raw.status == 1, "a file that is no outbox file is damage found: \(raw.stderr)")
        #expect(raw.stdout.contains("unknown"))
        let verify = try await runOutbox(["verify", tmp.path])
        #expect(verify.status == 66, "no outbox here is not damage: a status of its own")
        #expect(verify.stderr.split(separator: "\n").count == 1 && verify.stderr.contains("not an outbox"), "\(verify.stderr)")
        let tail = try await runOutbox(["tail", tmp.sub("missing")])
        #expect(tail.status == 66 && tail.stderr.contains("no such directory"))
    }
}

@Suite("Reading while compaction runs")
struct CompactionRaceTests {
    /// The reader lists the segments, then the writer rolls past the last one it listed and compaction
    /// removes that one (and, first, the one being read): the reader lists again and goes on with the
    /// newer segment instead of failing. (Found by the live dump test; deterministic here.)
    @Test func aReaderGoesOnWhenTheLastSegmentItListedIsCompactedAway() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 2048), logger: quietLogger)
        while try segmentNames(dir).count < 2 { try await outbox.append(sampleMessage(1, payloadSize: 300)) }
        let listed = try segmentNames(dir)
        let (seqs, vanished) = try await onOwnThread { () throws -> ([UInt64], String) in
            var seqs: [UInt64] = []
            var vanished = ""
            try OutboxReader(path: dir).forEachMessage { m in
                if seqs.isEmpty {
                    // Roll to a third segment, then remove the first two as compaction would, from the
                    // front (the first stays readable through the reader's descriptor).
                    while try segmentNames(dir).count < 3 { try outbox.appendBlocking(sampleMessage(2, payloadSize: 300)) }
                    vanished = listed[1]
                    unlink(dir + "/" + listed[0])
                    unlink(dir + "/" + vanished)
                }
                seqs.append(m.seq)
                return true
            }
            return (seqs, vanished)
        }
        try await outbox.close()
        let remaining = try OutboxReader(path: dir).messages().map(\.seq)
        #expect(!vanished.isEmpty)
        #expect(seqs.count > remaining.count && Array(seqs.suffix(remaining.count)) == remaining,
                "the walk read the segment it held, then every message still stored, in order: \(seqs) \(remaining)")
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
    }

    /// A lock its holder released but that lingers for a moment (a forked child holding the
    /// descriptor until it calls exec) does not fail an open.
    @Test func aLockReleasedWithinTheGraceDoesNotFailAnOpen() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        try await Outbox.open(at: dir, logger: quietLogger).close()
        // Another program started by the test process at the wrong moment holds a copy of a lock until it
        // calls exec, which a loaded machine can put off for longer than the grace: a lock is taken once
        // such a copy is gone, and an attempt whose release came late proves nothing (it is tried again,
        // up to five times).
        func takeLock() async throws -> Int32 {
            let fd = open(dir + "/" + FileLock.writerLockName, O_RDWR | O_CLOEXEC)
            #expect(fd >= 0)
            try await eventually("the lock is free") { (try? LinuxSystemCalls().flock(fd, LOCK_EX | LOCK_NB)) != nil }
            return fd
        }
        for attempt in 1...5 {
            let fd = try await takeLock()
            let started = ContinuousClock.now
            let releasedAt = Shared<ContinuousClock.Instant?>(nil)
            Thread {
                usleep(30_000)
                close(fd)
                releasedAt.set(.now)
            }.start()
            do {
                try await Outbox.open(at: dir, logger: quietLogger).close()
                break
            } catch {
                try await eventually("the lock released") { releasedAt.get() != nil }
                let late = releasedAt.get()! - started > FileLock.releaseGrace - .milliseconds(20)
                guard late, attempt < 5 else { throw error }
            }
        }
        let other = try await takeLock()
        defer { close(other) }
        let started = ContinuousClock.now
        await #expect(throws: OutboxError.self, "a lock held past the grace is still refused") {
            try await Outbox.open(at: dir, logger: quietLogger)
        }
        #expect(ContinuousClock.now - started >= FileLock.releaseGrace)
    }
}
