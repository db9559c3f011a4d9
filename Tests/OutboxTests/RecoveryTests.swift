import Foundation
import Testing
@testable import Outbox

@Suite("Recovery at open")
struct RecoveryTests {
    /// Appends `commits` single-message commits and returns the frame end offsets in the active segment.
    private func makeOutbox(_ dir: String, commits: Int, segmentSize: Int = 64 << 20) async throws -> [Int64] {
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: segmentSize), logger: quietLogger)
        for i in 1...commits { try await outbox.append(sampleMessage(i, payloadSize: 20 + i)) }
        try await outbox.close()
        // The cuts these tests make stand for commits a crash interrupted, which the durable mark never
        // names: a mark that names them would make the cut numbers missing (FORMAT.md §8).
        try FileManager.default.removeItem(atPath: dir + "/" + DurableMarkFile.fileName)
        return try OutboxReader(path: dir).messages().map(\.offset)
    }

    /// Issue 25, item 13: a seal with a 9-byte body was flagged by verify and accepted by open and dump.
    @Test func aSealOfTheWrongSizeIsDamageForEveryCommand() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 30, segmentSize: 1024)
        let sealed = try segmentNames(dir)[0]
        let path = dir + "/" + sealed
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try FileHeader.decode(Array(bytes.prefix(FileHeader.size)), expecting: .segment)
        let at = bytes.count - Seal.frameSize(header.version)
        let h = bytes.withUnsafeBytes { FrameHeader.peek(UnsafeRawBufferPointer(rebasing: $0[at...])) }
        #expect(h.kind == FrameKind.seal.rawValue)
        let longer = FrameHeader.frame(kind: .seal, first: h.first, count: h.count, body: Array(bytes[(at + FrameHeader.size)...]) + [0],
                                       identity: FileIdentity(outboxID: header.outboxID, base: header.base), offset: Int64(at), tag: h.flags)
        bytes.replaceSubrange(at..., with: longer)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: OutboxError.self, "open") { try Outbox(openingAt: dir, logger: quietLogger) }
        #expect(throws: OutboxError.self, "dump") { try OutboxReader(path: dir).messages() }
        #expect(try OutboxInspector.verify(path: dir).problems.contains { $0.file == sealed && $0.offset == Int64(at) })
    }

    @Test func truncatingTheLastFrameAtEveryByteRecoversTheCleanPrefix() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let starts = try await makeOutbox(dir, commits: 4)
        let segment = try segmentNames(dir)[0]
        let size = Int64(try fileSize(dir + "/" + segment))
        let ends = Array(starts.dropFirst()) + [size]
        // Hundreds of reopens: they run on a thread of their own and report what went wrong.
        let problems = try await onOwnThread { () throws -> [String] in
            var problems: [String] = []
            for cut in Int64(FileHeader.size)..<size {
                let copy = tmp.sub("cut-\(cut)")
                try copyDirectory(dir, copy)
                guard truncate(copy + "/" + segment, off_t(cut)) == 0 else { throw OutboxError(.io, "truncate failed") }
                let complete = ends.filter { $0 <= cut }
                let outbox = try Outbox(openingAt: copy, logger: quietLogger)
                let kept = try fileSize(copy + "/" + segment)
                let clean = Int(complete.last ?? Int64(FileHeader.size))
                // Cut back to the clean prefix; or, where the torn bytes happen to be zeros (a checksum's
                // leading zero bytes), kept as space allocated ahead (FORMAT.md §3), which the next frame overwrites.
                let bytes = try Data(contentsOf: URL(fileURLWithPath: copy + "/" + segment))
                let zeros = kept > clean && bytes[clean..<kept].allSatisfy { $0 == 0 }
                if kept != clean && !zeros { problems.append("cut at \(cut): \(kept) bytes kept") }
                let next = try outbox.appendBlocking(sampleMessage(99))
                if next != UInt64(complete.count + 1) { problems.append("cut at \(cut): next seq \(next)") }
                try outbox.closeBlocking()
                let seqs = try OutboxReader(path: copy).messages().map(\.seq)
                if seqs != Array(1...UInt64(complete.count + 1)) { problems.append("cut at \(cut): read back \(seqs)") }
                try FileManager.default.removeItem(atPath: copy)
            }
            return problems
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    /// Every bit flip in a sealed segment is found and named: by open when it hits the header or the
    /// seal (open checks a sealed segment by those alone, FORMAT.md §7), and by reading otherwise, naming
    /// the frame it hit; open then succeeds without reading the segment's frames.
    @Test func aBitFlipAtEveryByteOfASealedSegmentIsDetectedAndNamed() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 12, segmentSize: 400)
        let names = try segmentNames(dir)
        #expect(names.count >= 3)
        let sealed = names[0]
        let frames = try OutboxReader(path: dir).messages().filter { $0.segment == sealed }.map(\.offset)
        let size = Int64(try fileSize(dir + "/" + sealed))
        let seal = size - Int64(Seal.frameSize(FileHeader.currentVersion))
        #expect(seal > frames.max() ?? 0, "the segment ends with its seal")
        let original = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + sealed))
        let copy = tmp.sub("flip")
        try copyDirectory(dir, copy)
        let problems = try await onOwnThread { () throws -> [String] in
            var problems: [String] = []
            for byte in 0..<Int(size) {
                var damaged = original
                damaged[byte] ^= UInt8(1 << (byte % 8))
                try damaged.write(to: URL(fileURLWithPath: copy + "/" + sealed))
                // Where the damage must be named: the header's field, the seal, or the frame it hit.
                let inHeader = byte < FileHeader.size
                let expected = inHeader ? nil : Int64(byte) >= seal ? seal : frames.last { $0 <= Int64(byte) }
                let openedByItsSeal = !inHeader && Int64(byte) < seal
                func check(_ who: String, _ body: () throws -> Void) {
                    do {
                        try body()
                        problems.append("\(who): a flipped bit at byte \(byte) of \(sealed) went unnoticed")
                    } catch let e as OutboxError {
                        guard e.path?.hasSuffix(sealed) == true, let offset = e.offset, inHeader || e.code == .corrupt else {
                            problems.append("\(who), byte \(byte): \(e)")
                            return
                        }
                        if let expected, offset != expected {
                            problems.append("\(who): byte \(byte) is in the frame at \(expected): \(e)")
                        } else if inHeader, offset >= Int64(FileHeader.size) {
                            problems.append("\(who): byte \(byte) is in the header: \(e)")
                        }
                    } catch {
                        problems.append("\(who), byte \(byte): \(error)")
                    }
                }
                if openedByItsSeal {
                    do { try Outbox(openingAt: copy, logger: quietLogger).closeBlocking() } catch {
                        problems.append("open, byte \(byte) inside a frame of a segment with an intact seal: \(error)")
                    }
                } else {
                    check("open") { try Outbox(openingAt: copy, logger: quietLogger).closeBlocking() }
                }
                check("reading") { _ = try OutboxReader(path: copy).messages() }
            }
            return problems
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    /// Valid frames written after a segment's seal (bound to their offsets, so they check out one by one)
    /// are damage that is never a torn tail: open, reading, the relay's tail and verify all name the first
    /// of them, and none of them loops judging it again (the fuzzer found such a loop).
    @Test(.timeLimit(.minutes(1)))
    func validFramesAfterASealAreRefusedEverywhereAndNothingLoops() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 12, segmentSize: 400)
        let names = try segmentNames(dir)
        #expect(names.count >= 3)
        let (sealed, next) = (names[0], names[1])
        let reader = try OutboxReader(path: dir)
        let id = reader.outboxID
        // Two frames of the next segment, re-encoded as if they followed the seal of the first one.
        let moved = try reader.messages().filter { $0.segment == next }.prefix(2)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + sealed))
        let after = Int64(bytes.count)
        for m in moved {
            let body = try MessageCodec.encode([m.message], compressionThreshold: nil, maxBody: 1 << 20, clock: m.commitClock)
            bytes += FrameHeader.frame(kind: .messages, first: m.seq, count: 1, body: body,
                                       identity: FileIdentity(outboxID: id, base: 1), offset: Int64(bytes.count),
                                       tag: FrameHeader.writeTag(start: Int64(bytes.count), version: FileHeader.currentVersion))
        }
        try bytes.write(to: URL(fileURLWithPath: dir + "/" + sealed))
        func named(_ what: String, _ body: () throws -> Void) {
            do {
                try body()
                Issue.record("\(what) accepted frames after a seal")
            } catch let e as OutboxError {
                #expect(e.code == .corrupt && e.path?.hasSuffix(sealed) == true && e.offset == after, "\(what): \(e)")
            } catch { Issue.record("\(what): \(error)") }
        }
        named("open") { try Outbox(openingAt: dir, logger: quietLogger).closeBlocking() }
        named("reading") { _ = try OutboxReader(path: dir).messages() }
        named("the tail") {
            let tail = LogTail(directory: try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls()), outboxID: id, from: 1)
            while try !tail.read(limit: 1000).isEmpty {}
        }
        let report = try OutboxInspector.verify(path: dir)
        #expect(report.problems.first?.file == sealed && report.problems.first?.offset == after && report.problems.first?.kind == .corrupt,
                "\(report.problems)")
    }

    @Test func damageFollowedByAValidFrameInTheActiveSegmentIsRefused() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let starts = try await makeOutbox(dir, commits: 5)
        let path = dir + "/" + (try segmentNames(dir)[0])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[Int(starts[2]) + 30] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect { try Outbox(openingAt: dir, logger: quietLogger) } throws: { error in
            guard let e = error as? OutboxError else { return false }
            return e.code == .corrupt && e.offset == starts[2] && e.message.contains("a valid frame follows at offset \(starts[3])")
        }
        #expect(try fileSize(path) == bytes.count, "nothing was truncated")
    }

    @Test func aMissingSegmentInTheMiddleIsRefused() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 12, segmentSize: 400)
        let names = try segmentNames(dir)
        try FileManager.default.removeItem(atPath: dir + "/" + names[1])
        #expect { try Outbox(openingAt: dir, logger: quietLogger) } throws: {
            ($0 as? OutboxError)?.message.contains("sequence gap") == true
        }
    }

    @Test func leftoverTemporaryFilesAreRemoved() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 2)
        _ = FileManager.default.createFile(atPath: dir + "/.tmp-segment-00000000000000000003.log", contents: Data([1, 2, 3]))
        let outbox = try Outbox(openingAt: dir, logger: quietLogger)
        try outbox.closeBlocking()
        #expect(!FileManager.default.fileExists(atPath: dir + "/.tmp-segment-00000000000000000003.log"))
    }

    @Test func aSymlinkWhereASegmentShouldBeIsRefused() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 2)
        let name = try segmentNames(dir)[0]
        try FileManager.default.moveItem(atPath: dir + "/" + name, toPath: tmp.sub("elsewhere"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: tmp.sub("elsewhere"))
        #expect { try Outbox(openingAt: dir, logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .symlink }
        #expect { try OutboxReader(path: dir).messages() } throws: { ($0 as? OutboxError)?.code == .symlink }
    }

    @Test func aGroupWritableDirectoryIsRefused() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await makeOutbox(dir, commits: 1)
        chmod(dir, 0o770)
        #expect { try Outbox(openingAt: dir, logger: quietLogger) } throws: {
            ($0 as? OutboxError)?.message.contains("group or others can write") == true
        }
    }
}

@Suite("Names and links")
struct NamingTests {
    @Test func onlyFormatNamesAreOpenedAndOtherFilesAreIgnored() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...3 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        for name in ["segment-1.log", "segment-00000000000000000001.log.bak", "segment-0000000000000000000x.log",
                     "tombstones-00000000000000000000.log", "notes.txt", "segment-000000000000000000010.log"] {
            #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("garbage".utf8)))
        }
        let reopened = try await Outbox.open(at: dir, logger: quietLogger)
        #expect(try await reopened.append(sampleMessage(4)) == 4)
        try await reopened.close()
        #expect(try OutboxReader(path: dir).messages().count == 4)
        #expect(try OutboxInspector.verify(path: dir).isClean)
    }

    @Test func aSymlinkWhereATombstoneFileShouldBeIsRefused() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        try await outbox.close()
        let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.acknowledge([1])
        try await log.close()
        let name = FileNames.tombstones(1)
        try FileManager.default.moveItem(atPath: dir + "/" + name, toPath: tmp.sub("elsewhere"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: tmp.sub("elsewhere"))
        await #expect { try await TombstoneLog.open(at: dir, logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .symlink }
        #expect { try OutboxReader(path: dir).tombstones() } throws: { ($0 as? OutboxError)?.code == .symlink }
    }

    @Test func aSymlinkedOutboxDirectoryIsRefused() throws {
        let tmp = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: tmp.sub("real"), withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: tmp.sub("link"), withDestinationPath: tmp.sub("real"))
        #expect { try Outbox(openingAt: tmp.sub("link"), logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .symlink }
    }
}
