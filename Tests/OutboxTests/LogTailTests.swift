import Foundation
@testable import Outbox
import OutboxBench
import Testing

@Suite("Log tail")
struct LogTailTests {
    /// Reads until nothing is new; also counts the reads that returned messages of segment `active`.
    private func readAll(_ tail: LogTail, limit: Int, active: String? = nil) throws -> (seqs: [UInt64], activeReads: Int) {
        var seqs: [UInt64] = []
        var activeReads = 0
        while true {
            let batch = try tail.read(limit: limit)
            if batch.isEmpty { return (seqs, activeReads) }
            if batch.contains(where: { $0.segment == active }) { activeReads += 1 }
            seqs += batch.map(\.seq)
        }
    }

    /// The tail syncs only what may not be durable: never a sealed segment; the active one once per read
    /// that took new frames from it (not again for frames an earlier sync covered); nothing the writer
    /// reported durable, in this process (its own word) or in another (`writer.durable`).
    @Test func theTailSyncsOnlyWhatMayNotBeDurableYet() throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = configuration()
        config.segmentSize = 4096
        var outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
        for i in 1...300 { try outbox.appendBlocking(sampleMessage(i, payloadSize: 100)) }
        try outbox.closeBlocking()
        let segments = try FileNames.list(try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())).segments.count
        #expect(segments > 5, "several sealed segments and an active one")
        let markPath = dir + "/" + DurableMarkFile.fileName
        try FileManager.default.removeItem(atPath: markPath)

        let calls = CountingSystemCalls()
        let directory = try OutboxDirectory.open(dir, create: false, sys: calls)
        let reader = try OutboxReader(path: dir)
        let tail = LogTail(directory: directory, outboxID: reader.outboxID, from: 1)
        let active = try FileNames.list(directory).segments.last!.name
        let (seqs, activeReads) = try readAll(tail, limit: 7, active: active)
        #expect(seqs == Array(1...300))
        #expect(activeReads >= 1 && calls.fdatasyncs == activeReads,
                "without a durable mark: a sync per read from the active segment (\(activeReads)), none for a sealed one: \(calls.fdatasyncs)")
        let before = calls.fdatasyncs

        // A writer in another process: its durable mark says what needs no sync.
        // (The mark moves after the commit's callers were completed; after close it is final.)
        outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
        try outbox.appendBlocking(sampleMessage(301, payloadSize: 100))
        try outbox.closeBlocking()
        #expect(DurableMarkFile.read(in: directory, outboxID: reader.outboxID) == 301)
        #expect(try readAll(tail, limit: 7).seqs == [301])
        #expect(calls.fdatasyncs == before, "at or below writer.durable's mark: no sync of the tail's")

        // A mark the tail must not trust reads as 0: the tail syncs for itself.
        let other = OutboxID(bytes: Array(repeating: 7, count: 16))
        let untrusted: [(String, [UInt8])] = [
            ("torn", { var b = DurableMarkFile.encode(1000, outboxID: reader.outboxID); b[33] ^= 1; return b }()),
            ("another outbox's", DurableMarkFile.encode(1000, outboxID: other)),
            ("short", Array(DurableMarkFile.encode(1000, outboxID: reader.outboxID)[0..<32])),
        ]
        var seq = 301
        for (what, bytes) in untrusted {
            outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
            seq += 1
            try outbox.appendBlocking(sampleMessage(seq, payloadSize: 100))
            try outbox.closeBlocking()
            try Data(bytes).write(to: URL(fileURLWithPath: markPath))
            #expect(DurableMarkFile.read(in: directory, outboxID: reader.outboxID) == 0, "a \(what) mark reads as 0")
            let synced = calls.fdatasyncs
            #expect(try readAll(tail, limit: 7).seqs == [UInt64(seq)])
            #expect(calls.fdatasyncs == synced + 1, "a \(what) mark: the tail synced the new frame itself")
        }
        #expect(try readAll(tail, limit: 7).seqs.isEmpty, "nothing new")

        // A writer in this process: its own word, with no file to read.
        outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
        try FileManager.default.removeItem(atPath: markPath)
        let writer = outbox
        tail.durableThrough = { @Sendable in writer.durableThrough }
        let synced = calls.fdatasyncs
        for i in (seq + 1)...(seq + 19) { try outbox.appendBlocking(sampleMessage(i, payloadSize: 100)) }
        #expect(try readAll(tail, limit: 7).seqs == Array(UInt64(seq + 1)...UInt64(seq + 19)))
        #expect(calls.fdatasyncs == synced, "what the writer in this process made durable needs no sync of the tail's")
        try outbox.closeBlocking()
    }

    /// A fresh outbox's mark starts at 0, every commit moves it to its last number, and a stored mark
    /// above what recovery found is never lowered silently (issue 25, item 11): the numbers it names were
    /// made durable, so their frames are missing; open refuses, or under quarantine gives them to a hole,
    /// and the numbering goes on above them.
    @Test func aStoredMarkAboveWhatRecoveryFoundIsRefusedOrMadeAHoleNeverLowered() throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        // (The mark moves after a commit's callers were completed; after close it is final.)
        var outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)
        let id = outbox.id
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        #expect(DurableMarkFile.read(in: directory, outboxID: id) == 0, "a new outbox: nothing durable")
        try outbox.appendBlocking(contentsOf: (1...5).map { sampleMessage($0) })
        try outbox.closeBlocking()
        #expect(DurableMarkFile.read(in: directory, outboxID: id) == 5)
        outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)
        #expect(DurableMarkFile.read(in: directory, outboxID: id) == 5, "a valid mark within what was recovered is kept")
        try outbox.appendBlocking(sampleMessage(6))
        try outbox.closeBlocking()
        #expect(DurableMarkFile.read(in: directory, outboxID: id) == 6)

        try Data(DurableMarkFile.encode(9, outboxID: id)).write(to: URL(fileURLWithPath: dir + "/" + DurableMarkFile.fileName))
        #expect { try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger) } throws: {
            ($0 as? OutboxError)?.code == .corrupt && "\($0)".contains("the log ends at sequence number 6, but writer.durable")
        }
        #expect(DurableMarkFile.read(in: directory, outboxID: id) == 9, "refusing changed nothing")
        #expect(try OutboxInspector.verify(path: dir).problems.map(\.kind) == [.numbersMissing])
        var quarantine = configuration()
        quarantine.onDamage = .quarantine
        outbox = try Outbox(openingAt: dir, configuration: quarantine, logger: quietLogger)
        #expect(try outbox.appendBlocking(sampleMessage(10)) == 10, "7...9 are a hole: never given again")
        try outbox.closeBlocking()
        #expect(DurableMarkFile.read(in: directory, outboxID: id) == 10)
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == [1, 2, 3, 4, 5, 6, 10], "a hole holds 7...9")
        #expect(try OutboxInspector.verify(path: dir).problems.isEmpty)
    }

    /// A tail keeps its read window between reads; bytes it read before a writer cut a torn tail and wrote
    /// new frames in its place are not trusted: it reads the new frames.
    /// A reader can see a frame half copied while a writer writes it, and the frame after it whole a moment
    /// later (found when it looks for a valid frame past the damage). That is a write in progress, not
    /// damage followed by a valid frame: the tail judges the frame again on fresh bytes and reads on. (The
    /// live bench's relay, in the writer's process, met this and stopped as if the segment were corrupt.)
    @Test func aFrameSeenHalfWrittenBeforeTheNextOneIsReadAgainNotCalledCorrupt() throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)
        for i in 1...20 { try outbox.appendBlocking(sampleMessage(i, payloadSize: 100)) }
        try outbox.closeBlocking()
        let reader = try OutboxReader(path: dir)
        let offsets = Array(Set(try reader.messages().map(\.offset))).sorted()
        let victim = offsets[10]  // a frame with frames after it
        for (name, read) in [("the relay's tail", { (sys: FaultInjectingCalls) throws -> [UInt64] in
            let tail = LogTail(directory: try OutboxDirectory.open(dir, create: false, sys: sys), outboxID: reader.outboxID, from: 1)
            return try readAll(tail, limit: 1000).seqs
        }), ("verify's raw walk", { (sys: FaultInjectingCalls) throws -> [UInt64] in
            let report = try OutboxInspector.verify(try OutboxDirectory.open(dir, create: false, sys: sys))
            return report.problems.isEmpty ? Array(1...report.lastSeq) : []
        })] {
            let sys = FaultInjectingCalls()
            sys.tornRead = (victim + 40)..<(victim + 60)  // the body's middle, as if its copy were still going on
            #expect(try read(sys) == Array(1...20), "\(name) reads every message")
            #expect(sys.tornRead == nil, "\(name): the torn read happened")
        }
    }

    /// Issue 25, items 15 and 16: a write of several frames whose later frame is seen whole before an
    /// earlier one (a file system that shows a write's pages out of order; a power cut that kept the later
    /// pages only). A reader waits before the write (no error) and reads it all once its bytes settle; the
    /// writer's open, had it crashed, cuts the whole write (nothing of it was acknowledged). Zeros or damage
    /// followed by frames of *another* write stay corruption.
    @Test func aWriteSeenWithItsLaterFrameBeforeItsEarlierOneIsWaitedForNotCalledCorrupt() throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)
        for i in 1...5 { try outbox.appendBlocking(sampleMessage(i)) }
        try outbox.closeBlocking()
        let reader = try OutboxReader(path: dir)
        let segment = try reader.messages().last!.segment
        let path = dir + "/" + segment
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try FileHeader.decode(Array(original.prefix(FileHeader.size)), expecting: .segment)
        let identity = FileIdentity(outboxID: header.outboxID, base: header.base)
        // One write of three frames (messages 6, 7, 8) at the end of the segment.
        func write(at start: Int, tags: (Int) -> UInt16) throws -> [UInt8] {
            var bytes: [UInt8] = []
            for i in 0..<3 {
                let body = try MessageCodec.encode([sampleMessage(6 + i)], compressionThreshold: nil, maxBody: 1 << 20, clock: OutboxClock.system.now())
                bytes += FrameHeader.frame(kind: .messages, first: UInt64(6 + i), count: 1, body: body, identity: identity,
                                           offset: Int64(start + bytes.count), tag: tags(start + bytes.count))
            }
            return bytes
        }
        let start = original.count
        let whole = try write(at: start) { _ in FrameHeader.writeTag(start: Int64(start), version: header.version) }
        let firstLength = FrameHeader.size + Int(whole.withUnsafeBytes { FrameHeader.peek($0).length })
        // Its first frame half there (the rest still zeros), its later frames whole.
        var seen = whole
        for i in (firstLength / 2)..<firstLength { seen[i] = 0 }
        try Data(original + seen).write(to: URL(fileURLWithPath: path))
        let tail = LogTail(directory: try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls()), outboxID: reader.outboxID, from: 1)
        #expect(try readAll(tail, limit: 100).seqs == Array(1...5), "the reader stops before the write, without an error")
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == Array(1...5))
        #expect(try OutboxInspector.verify(path: dir).problems.map(\.kind) == [.tornTail])
        // The bytes settle: the reader goes on with the whole write.
        try Data(original + whole).write(to: URL(fileURLWithPath: path))
        #expect(try readAll(tail, limit: 100).seqs == [6, 7, 8])
        // A crash left it so: the writer's open cuts the whole write, and numbering goes on from 6.
        try Data(original + seen).write(to: URL(fileURLWithPath: path))
        outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)
        #expect(try outbox.appendBlocking(sampleMessage(9)) == 6)
        try outbox.closeBlocking()
        #expect(try OutboxInspector.verify(path: dir).problems.isEmpty)
        // The same bytes, but the frames after the damage are of writes of their own (each tagged with its
        // own offset): damage in a durable write, refused and reported as corruption.
        var separate = try write(at: start) { FrameHeader.writeTag(start: Int64($0), version: header.version) }
        for i in (firstLength / 2)..<firstLength { separate[i] = 0 }
        try Data(original + separate).write(to: URL(fileURLWithPath: path))
        #expect(throws: OutboxError.self) { try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger) }
        #expect(throws: OutboxError.self) { try readAll(LogTail(directory: try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls()),
                                                                outboxID: reader.outboxID, from: 1), limit: 100) }
        #expect(try OutboxInspector.verify(path: dir).problems.map(\.kind) == [.corrupt])
    }

    @Test func aTailReadsNewFramesWhereATornTailWasCut() throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)
        for i in 1...5 { try outbox.appendBlocking(sampleMessage(i)) }
        try outbox.closeBlocking()
        let reader = try OutboxReader(path: dir)
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        let tail = LogTail(directory: directory, outboxID: reader.outboxID, from: 1)
        #expect(try tail.read(limit: 100).map(\.seq) == Array(1...5))

        // A torn commit: a frame header promising more body than was written.
        let segment = dir + "/" + (try FileNames.list(directory).segments.last!.name)
        let handle = try #require(FileHandle(forWritingAtPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data([200, 0, 0, 0] + [UInt8](repeating: 0x41, count: 40)))
        try handle.close()
        #expect(try tail.read(limit: 100).isEmpty, "an incomplete frame is waited for, not an error")

        outbox = try Outbox(openingAt: dir, configuration: configuration(), logger: quietLogger)  // cuts the torn tail
        for i in 6...8 { try outbox.appendBlocking(sampleMessage(i)) }
        try outbox.closeBlocking()
        #expect(try tail.read(limit: 100).map(\.seq) == Array(6...8))
    }
}
