import Foundation
import Testing
@testable import Outbox

@Suite("Appending")
struct AppendTests {
    @Test func appendsReadBackWithEveryFieldAfterReopen() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        var written: [OutboxMessage] = []
        for i in 1...10 {
            let m = sampleMessage(i, payloadSize: i == 5 ? 10_000 : nil)
            written.append(m)
            #expect(try await outbox.append(m) == UInt64(i))
        }
        try await outbox.close()

        let read = try OutboxReader(path: dir).messages()
        #expect(read.map(\.seq) == Array(1...10))
        #expect(read.map(\.message) == written)
        #expect(read[4].compressed)

        let again = try await Outbox.open(at: dir, logger: quietLogger)
        #expect(try await again.append(sampleMessage(11)) == 11, "numbering continues after reopen")
        try await again.close()
    }

    @Test func multiMessageCommitIsOneAtomicFrame() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(0))
        let range = try await outbox.append(contentsOf: (1...5).map { sampleMessage($0) })
        #expect(range == 2...6)
        try await outbox.close()
        let read = try OutboxReader(path: dir).messages()
        let offsets = Set(read.filter { range.contains($0.seq) }.map(\.offset))
        #expect(offsets.count == 1, "all five messages share one frame")

        // Cutting any byte of that frame loses the whole commit, never part of it. (The cut stands for a
        // commit a crash interrupted, which the durable mark would not name: it goes.)
        try FileManager.default.removeItem(atPath: dir + "/" + DurableMarkFile.fileName)
        let segment = dir + "/" + (try segmentNames(dir)[0])
        let size = try fileSize(segment)
        let frameStart = Int(offsets.first!)
        for cut in [frameStart + 1, frameStart + 30, size - 1] {
            let copy = tmp.sub("cut-\(cut)")
            try copyDirectory(dir, copy)
            truncate(copy + "/" + (try segmentNames(copy)[0]), off_t(cut))
            let reopened = try await Outbox.open(at: copy, logger: quietLogger)
            try await reopened.close()
            #expect(try OutboxReader(path: copy).messages().map(\.seq) == [1])
        }
    }

    @Test func concurrentAppendersGetDenseUniqueSequenceNumbers() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 16 << 10), logger: quietLogger)
        let tasks = 32, each = 40
        let perTask = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var mine: [UInt64] = []
                    for i in 0..<each {
                        if i % 4 == 0 {
                            mine += Array(try await outbox.append(contentsOf: [sampleMessage(t * 1000 + i), sampleMessage(t * 1000 + i + 500)]))
                        } else {
                            mine.append(try await outbox.append(sampleMessage(t * 1000 + i)))
                        }
                    }
                    return mine
                }
            }
            return try await group.reduce(into: [[UInt64]]()) { $0.append($1) }
        }
        try await outbox.close()
        let all = perTask.flatMap { $0 }
        let expectedCount = tasks * (each + each / 4)
        #expect(all.count == expectedCount)
        #expect(Set(all).count == all.count, "no sequence number handed out twice")
        #expect(all.sorted() == Array(1...UInt64(expectedCount)), "dense from 1")
        for mine in perTask { #expect(mine == mine.sorted(), "one caller's commits are ordered") }
        #expect(try segmentNames(dir).count > 1, "the segment rolled under load")
        let read = try OutboxReader(path: dir).messages()
        #expect(read.map(\.seq) == Array(1...UInt64(expectedCount)))
    }

    @Test func oversizeMessageIsRefusedBeforeAnythingIsWritten() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = OutboxConfiguration()
        config.maxRecordSize = 4096
        config.compressionThreshold = nil
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let segment = dir + "/" + (try segmentNames(dir)[0])
        let before = try fileSize(segment)
        await #expect { try await outbox.append(sampleMessage(2, payloadSize: 5000)) } throws: {
            ($0 as? OutboxError)?.code == .recordTooLarge
        }
        #expect(try fileSize(segment) == before)
        #expect(try await outbox.append(sampleMessage(3)) == 2, "the refusal consumed no sequence number")
        try await outbox.close()
    }

    /// Issue 25, item 1: copies of one value were five messages with one id (a broker that deduplicates
    /// kept one) and the template's construction time.
    @Test func copiesOfOneValueGetTheirOwnIdAndTimeWhenAppended() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let template = OutboxMessage(type: "Reading", key: "s1", payload: [])
        #expect(!template.id.isAssigned && template.createdAtMicros == 0, "nothing is given before append")
        var batch: [OutboxMessage] = []
        for i in 0..<5 {
            var m = template
            m.payload = Array("\(i)".utf8)
            batch.append(m)
        }
        try await Task.sleep(for: .milliseconds(5))
        let before = OutboxMessage.micros(Date())
        try await outbox.append(contentsOf: batch)
        try await outbox.append(template)
        try await outbox.append(template)
        let after = OutboxMessage.micros(Date())
        let explicit = MessageID.v7()
        let old = Date(timeIntervalSince1970: 1_000_000)
        try await outbox.append(OutboxMessage(id: explicit, type: "Reading", payload: [], createdAt: old))
        // A caller's id is kept, so appending it again is deliberate (the broker may deduplicate it); one
        // commit holding it twice is refused before anything is written.
        try await outbox.append(OutboxMessage(id: explicit, type: "Reading", payload: []))
        let twice = [OutboxMessage(id: explicit, type: "A", payload: []), OutboxMessage(type: "B", payload: []),
                     OutboxMessage(id: explicit, type: "C", payload: [])]
        await #expect { try await outbox.append(contentsOf: twice) } throws: {
            ($0 as? OutboxError)?.code == .invalidArgument && "\($0)".contains("message 3 of 3 repeats the id")
        }
        try await outbox.close()

        let read = try OutboxReader(path: dir).messages()
        #expect(read.count == 9)
        let appended = read.prefix(7)
        #expect(Set(appended.map(\.message.id)).count == 7, "seven appended values, seven ids: \(appended.map(\.message.id))")
        #expect(appended.allSatisfy { $0.message.id.isAssigned && $0.message.id.uuid.uuidString.dropFirst(14).first == "7" }, "UUIDv7")
        #expect(appended.allSatisfy { (before...after).contains($0.message.createdAtMicros) }, "stamped at append")
        #expect(appended.map(\.message.createdAtMicros) == appended.map(\.message.createdAtMicros).sorted(), "times follow the numbers")
        #expect(read[7].message.id == explicit && read[7].message.createdAt == old, "the caller's id and time are kept")
        #expect(read[8].message.id == explicit)
    }

    /// Issue 25, item 3: the library took what the tool refuses, and the relay dead-lettered it later.
    @Test func whatTheToolRefusesTheLibraryRefusesAtAppend() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let bad: [(OutboxMessage, String)] = [
            (OutboxMessage(type: "", payload: []), "type is empty"),
            (OutboxMessage(type: "a\nb", payload: []), "type holds a control character"),
            (OutboxMessage(type: "T", key: "k\r", payload: []), "key holds a control character"),
            (OutboxMessage(type: "T", key: String(decoding: [0x66, 0xFF], as: UTF8.self), payload: []), "key holds U+FFFD"),
            (OutboxMessage(type: "T", headers: [.init("Nats-Msg-Id", "x")], payload: []), "is reserved"),
            (OutboxMessage(type: "T", headers: [.init("outbox-seq", "1")], payload: []), "is reserved"),
            (OutboxMessage(type: "T", headers: [.init("", "x")], payload: []), "is empty"),
            (OutboxMessage(type: "T", headers: [.init("x", "a\u{7F}")], payload: []), "holds a control character"),
            (OutboxMessage(type: "T", headers: [.init(OutboxMessage.deliverByHeader, "soon")], payload: []), "is not a time"),
        ]
        for (m, says) in bad {
            await #expect { try await outbox.append(contentsOf: [sampleMessage(2), m]) } throws: {
                ($0 as? OutboxError)?.code == .invalidArgument && "\($0)".contains("message 2 of 2") && "\($0)".contains(says)
            }
            #expect(throws: OutboxError.self) { try outbox.appendBlocking(m) }
        }
        var expiring = OutboxMessage(type: "T", headers: [.init("x-tenant", "a")], payload: [])
        expiring.expiresAt = Date().addingTimeInterval(60)
        #expect(try await outbox.append(expiring) == 2, "the refusals consumed no number; the deadline header is the caller's")
        try await outbox.close()
        #expect(try OutboxReader(path: dir).messages().count == 2)
    }

    @Test func appendAfterCloseThrowsClosed() async throws {
        let tmp = TemporaryDirectory()
        let outbox = try await Outbox.open(at: tmp.sub("ob"), logger: quietLogger)
        try await outbox.close()
        await #expect { try await outbox.append(sampleMessage(1)) } throws: { ($0 as? OutboxError)?.code == .closed }
    }

    @Test func blockingAppendWorksFromPlainThreads() throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try Outbox(openingAt: dir, logger: quietLogger)
        let results = Shared<[UInt64]>([])
        let group = DispatchGroup()
        for t in 0..<8 {
            DispatchQueue.global().async(group: group) {
                for i in 0..<25 {
                    let seq = try! outbox.appendBlocking(sampleMessage(t * 100 + i))
                    results.mutate { $0.append(seq) }
                }
            }
        }
        group.wait()
        try outbox.closeBlocking()
        #expect(results.get().sorted() == Array(1...200))
    }

    @Test func filesArePrivateWhateverTheUmask() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let old = umask(0)
        defer { umask(old) }
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        try await outbox.close()
        let tombstones = try TombstoneLog(openingAt: dir, logger: quietLogger)
        try await tombstones.close()
        let dirMode = (try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as! NSNumber).intValue
        #expect(dirMode == 0o700)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            let mode = (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.posixPermissions] as! NSNumber).intValue
            #expect(mode == 0o600, "\(name) is \(String(mode, radix: 8))")
        }
    }
}

@Suite("Preallocation")
struct PreallocationTests {
    /// The active segment is zero-filled ahead of its frames; every reader, recovery and verify take the
    /// zeros for the end of the log (a crash leaves them), the writer goes on writing where the frames end,
    /// the budget counts the allocated size, and a roll or a close trims the zeros.
    @Test func spaceAllocatedAheadEndsTheLogForEveryReader() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = configuration(segmentSize: 1 << 20)
        config.maxDiskBytes = 64 << 20
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        for i in 1...10 { try await outbox.append(sampleMessage(i)) }
        let segment = dir + "/" + (try segmentNames(dir)[0])
        let allocated = try fileSize(segment)
        #expect(allocated >= 64 << 10, "zero-filled ahead: \(allocated) bytes")
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == Array(1...10))
        #expect(try OutboxInspector.verify(path: dir).problems.isEmpty)
        #expect(try OutboxReader(path: dir).stats().usedBytes >= Int64(allocated), "the budget counts the allocated size")

        // A power loss now leaves the zeros: recovery keeps them and appends after the last frame.
        let crashed = tmp.sub("crashed")
        try copyDirectory(dir, crashed)
        try? FileManager.default.removeItem(atPath: crashed + "/writer.lock")
        let reopened = try await Outbox.open(at: crashed, configuration: config, logger: quietLogger)
        #expect(try await reopened.append(sampleMessage(11)) == 11)
        #expect(try fileSize(crashed + "/" + (try segmentNames(crashed)[0])) == allocated, "the allocation is kept, not cut as a torn tail")
        try await reopened.close()
        #expect(try OutboxReader(path: crashed).messages().map(\.seq) == Array(1...11))
        #expect(try OutboxInspector.verify(path: crashed).problems.isEmpty)

        // Rolling trims the sealed segment to its frames; closing trims the active one.
        for i in 11...4000 { try await outbox.append(sampleMessage(i, payloadSize: 400)) }
        let names = try segmentNames(dir)
        #expect(names.count >= 2)
        let sealed = try OutboxReader(path: dir).messages().filter { $0.segment == names[0] }.map(\.offset).max()!
        #expect(try fileSize(dir + "/" + names[0]) < Int(sealed) + 4096, "a sealed segment ends with its last frame")
        try await outbox.close()
        let active = dir + "/" + names.last!
        let lastFrame = try OutboxReader(path: dir).messages().filter { $0.segment == names.last! }.map(\.offset).max()!
        #expect(try fileSize(active) < Int(lastFrame) + 4096, "closed: no zeros after the last frame")
        #expect(try OutboxReader(path: dir).messages().count == 4000)
    }
}

@Suite("Group commit")
struct GroupCommitTests {
    /// Callers that take a moment to come back after their commit completes would, with a greedy
    /// committer, split into two cohorts taking turns (half the callers per batch). The committer waits
    /// (briefly) for the callers it released, so batches carry nearly all of them; a lone caller's batches
    /// carry one request each, with no wait.
    @Test func batchesCarryTheCallersTheLastBatchReleased() throws {
        let sizes = Shared<[Int]>([])
        let committer = GroupCommitter<ResultBox<Void>>(name: "test-commit", maxBatchWeight: .max, waitsForReleasedCallers: true,
                                                         weight: { _ in 1 }, releasing: { batch, completing in
            usleep(4000)  // the "fdatasync"
            sizes.mutate { $0.append(batch.count) }
            completing()
            for r in batch { r.set(.success(())) }
        })
        let callers = 8, rounds = 30
        let finished = DispatchGroup()
        for _ in 0..<callers {
            finished.enter()
            Thread {
                for _ in 0..<rounds {
                    let done = ResultBox<Void>()
                    _ = committer.submit(done)
                    try? done.wait().get()
                    usleep(200)  // resuming, encoding the next commit
                }
                finished.leave()
            }.start()
        }
        finished.wait()
        committer.stop()
        let steady = Array(sizes.get().dropFirst(3).dropLast(3))
        let mean = Double(steady.reduce(0, +)) / Double(max(steady.count, 1))
        #expect(mean >= 0.75 * Double(callers), "batches of \(steady) (mean \(mean)) for \(callers) callers")

        let lone = Shared<[Int]>([])
        let single = GroupCommitter<ResultBox<Void>>(name: "test-commit", maxBatchWeight: .max, waitsForReleasedCallers: true,
                                                      weight: { _ in 1 }) { batch in
            lone.mutate { $0.append(batch.count) }
            for r in batch { r.set(.success(())) }
        }
        for _ in 0..<50 {
            let done = ResultBox<Void>()
            _ = single.submit(done)
            try done.wait().get()
        }
        single.stop()
        #expect(lone.get() == Array(repeating: 1, count: 50))
    }

    /// Payloads as `Data` (issue 30: what encoders give): a message built from `Data` stores its bytes,
    /// and `payloadData` reads them back as `Data`.
    @Test func aPayloadGivenAsDataReadsBackAsData() async throws {
        struct Reading: Codable, Equatable { var sensor: String; var value: Double }
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger)
        let encoded = try JSONEncoder().encode(Reading(sensor: "t1", value: 21.5))
        try await outbox.append(OutboxMessage(type: "Reading", payload: encoded))
        try await outbox.close()
        let stored = try #require(try OutboxReader(path: dir).messages().first)
        #expect(stored.message.payloadData == encoded && stored.message.payload == [UInt8](encoded))
        #expect(try JSONDecoder().decode(Reading.self, from: stored.message.payloadData) == Reading(sensor: "t1", value: 21.5))
        var m = stored.message
        m.payloadData = Data([1, 2, 3])
        #expect(m.payload == [1, 2, 3])
    }
}
