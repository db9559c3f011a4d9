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
    /// that took new frames from it (not again for frames an earlier sync covered); nothing the in-process
    /// writer reported durable.
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

        let calls = CountingSystemCalls()
        let directory = try OutboxDirectory.open(dir, create: false, sys: calls)
        let reader = try OutboxReader(path: dir)
        let tail = LogTail(directory: directory, outboxID: reader.outboxID, from: 1)
        let active = try FileNames.list(directory).segments.last!.name
        let (seqs, activeReads) = try readAll(tail, limit: 7, active: active)
        #expect(seqs == Array(1...300))
        #expect(activeReads >= 1 && calls.fdatasyncs == activeReads,
                "a sync per read from the active segment (\(activeReads)), none for a sealed one: \(calls.fdatasyncs)")
        let before = calls.fdatasyncs

        outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
        try outbox.appendBlocking(sampleMessage(301, payloadSize: 100))
        #expect(try readAll(tail, limit: 7).seqs == [301])
        #expect(calls.fdatasyncs == before + 1, "new bytes in the active segment: synced again")
        #expect(try readAll(tail, limit: 7).seqs.isEmpty && calls.fdatasyncs == before + 1, "nothing new: no sync")

        let writer = outbox
        tail.durableThrough = { @Sendable in writer.durableThrough }
        for i in 302...320 { try outbox.appendBlocking(sampleMessage(i, payloadSize: 100)) }
        #expect(try readAll(tail, limit: 7).seqs == Array(302...320))
        #expect(calls.fdatasyncs == before + 1, "what the writer in this process made durable needs no sync of the tail's")
        try outbox.closeBlocking()
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
