import Foundation
import Testing
@testable import Outbox

/// Random damage to copies of one generated outbox: every command that meets the damage names the same
/// file and offset (the writer's open, `dump`'s reader, the relay's tail, `verify`), and repair followed by
/// open loses no message whose frame is intact.
@Suite("Random damage")
struct RandomDamageTests {
    private enum Damage: CaseIterable { case flipBits, truncate, zeroRange, deleteSegment, foreignHeader }

    /// One attempt's outcome: nil when it went through, else the error's code, file and offset.
    private func outcome(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let e as OutboxError {
            return "\(e.code.rawValue) \(e.path.map { String($0.split(separator: "/").last ?? "") } ?? "-") @\(e.offset.map { "\($0)" } ?? "-")"
        } catch {
            return "other: \(error)"
        }
    }

    @Test func everyCommandGivesTheSameAnswerAndRepairKeepsEveryIntactMessage() async throws {
        let seed = testSeed("everyCommandGivesTheSameAnswerAndRepairKeepsEveryIntactMessage")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let original = tmp.sub("original")
        let outbox = try await Outbox.open(at: original, configuration: configuration(segmentSize: 4 << 10), logger: quietLogger)
        for i in 1...200 { try await outbox.append(sampleMessage(i, payloadSize: Int(g.next() % 150))) }
        try await outbox.close()
        unlink(original + "/writer.lock")
        let segments = try segmentNames(original)
        #expect(segments.count >= 6)
        let originalMessages = Dictionary(uniqueKeysWithValues: try OutboxReader(path: original).messages().map { ($0.seq, $0.message.id) })
        // Each frame: its file, offset, bytes and the numbers it holds.
        var frames: [(file: String, offset: Int64, bytes: Data, seqs: ClosedRange<UInt64>)] = []
        // Each sealed segment's seal (FORMAT.md §3a): its bytes, which end the file.
        var seals: [String: Data] = [:]
        for file in try OutboxInspector.rawWalk(path: original) where file.kind == "segment" {
            let data = try Data(contentsOf: URL(fileURLWithPath: original + "/" + file.name))
            for case .frame(let offset, let length, let kind, let first, let count) in file.entries {
                let bytes = data.subdata(in: Int(offset)..<Int(offset + length))
                if kind == "seal" { seals[file.name] = bytes } else { frames.append((file.name, offset, bytes, first...(first + UInt64(count) - 1))) }
            }
        }
        #expect(seals.count == segments.count - 1, "every sealed segment has a seal")

        for round in 0..<40 {
            let context = "seed \(seed), round \(round)"
            let damaged = tmp.sub("damaged-\(round)")
            try copyDirectory(original, damaged)
            let victim = segments[Int(g.next() % UInt64(segments.count))]
            let path = damaged + "/" + victim
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let kind = Damage.allCases[Int(g.next() % UInt64(Damage.allCases.count))]
            switch kind {
            case .flipBits:
                for _ in 0...(g.next() % 3) { bytes[Int(g.next() % UInt64(bytes.count))] ^= UInt8(1 << (g.next() % 8)) }
            case .truncate:
                bytes = bytes.prefix(Int(g.next() % UInt64(bytes.count)))
            case .zeroRange:
                let start = Int(g.next() % UInt64(bytes.count))
                let end = min(bytes.count, start + 1 + Int(g.next() % 200))
                bytes.replaceSubrange(start..<end, with: Data(count: end - start))
            case .deleteSegment:
                break
            case .foreignHeader:
                bytes[16] ^= 0xFF
                let crc = CRC32.of(Array(bytes.prefix(60)))
                withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[60 + i] = $0[i] } }
            }
            if kind == .deleteSegment { unlink(path) } else { try bytes.write(to: URL(fileURLWithPath: path)) }
            let what = "\(context): \(kind) in \(victim)"

            // The same answer from every command that meets the damage.
            let report = try OutboxInspector.verify(path: damaged)
            let firstSegment = try segmentNames(damaged).first
            let first = report.problems.first { p in
                ![.leftoverFile, .tornTail].contains(p.kind)
                    && !(p.kind == .sequenceGap && p.file == firstSegment && p.reason.contains("below the first segment"))  // needs the tombstones, which open does not read
            }
            let writerCopy = tmp.sub("writer-\(round)")
            try copyDirectory(damaged, writerCopy)
            let writer = outcome { try Outbox(openingAt: writerCopy, logger: quietLogger).closeBlocking() }
            let reader = outcome { _ = try OutboxReader(path: damaged).messages() }
            let tail = outcome {
                let r = try OutboxReader(path: damaged)
                let t = LogTail(directory: r.directory, outboxID: r.outboxID, from: 1)
                while try !t.read(limit: 1000).isEmpty {}
            }
            if let first, first.kind == .numbersMissing
                || (first.file == segments.last && first.reason.hasPrefix("zero-filled bytes where a frame header should be")) {
                // The log ends below what the durable mark names (FORMAT.md §8), or a zeroed frame header in
                // the active segment, which is the end of what is written so far for a reader (it does not
                // read the writer's allocated space after it, FORMAT.md §7): open refuses; readers, which do
                // not judge the end of the log by the other files, stop where the frames stop.
                let expected = "\(first.file) @\(first.offset.map { "\($0)" } ?? "-")"
                #expect(writer?.hasSuffix(expected) == true, "\(what): verify says \(first.kind.rawValue) \(expected) (\(first.reason)); writer says \(writer ?? "fine")")
                #expect(reader == nil && tail == nil, "\(what): readers stop where the frames stop: reader \(reader ?? "ok"), tail \(tail ?? "ok")")
                if first.kind != .numbersMissing {
                    let before = Set(frames.filter { $0.file != first.file || $0.offset < first.offset! }.flatMap { Array($0.seqs) })
                    #expect(Set(try OutboxReader(path: damaged).messages().map(\.seq)) == before, "\(what): the reader serves the frames before the zeros, no more")
                }
            } else if let first {
                let expected = "\(first.file) @\(first.offset.map { "\($0)" } ?? "-")"
                // Damage past the header of a sealed segment whose seal survived: open checks that segment by
                // its seal and does not read the rest (FORMAT.md §7); the readers find it.
                let data = FileManager.default.contents(atPath: damaged + "/" + first.file)
                if let seal = seals[first.file], let data, data.count >= seal.count, data.suffix(seal.count) == seal,
                   let offset = first.offset, offset >= Int64(FileHeader.size) {
                    #expect(writer == nil, "\(what): open checks \(first.file) by its intact seal, yet says \(writer ?? "")")
                } else {
                    #expect(writer?.hasSuffix(expected) == true, "\(what): verify says \(first.kind.rawValue) \(expected) (\(first.reason)); writer says \(writer ?? "fine")")
                }
                for (name, got) in [("reader", reader), ("tail", tail)] {
                    #expect(got?.hasSuffix(expected) == true, "\(what): verify says \(first.kind.rawValue) \(expected) (\(first.reason)); \(name) says \(got ?? "fine")")
                }
            } else {
                #expect(writer == nil && reader == nil && tail == nil, "\(what): verify finds nothing, yet writer \(writer ?? "ok"), reader \(reader ?? "ok"), tail \(tail ?? "ok")")
            }

            // Repair, then open: every message whose frame is intact is still there.
            let repaired = tmp.sub("repaired-\(round)")
            try copyDirectory(damaged, repaired)
            let result = try await OutboxInspector.repair(path: repaired, logger: quietLogger)
            #expect(result.remaining.isEmpty, "\(what): after repair \(result.remaining) (did \(result.actions))")
            let intact = frames.filter { f in
                guard let data = FileManager.default.contents(atPath: damaged + "/" + f.file), data.count >= Int(f.offset) + f.bytes.count else { return false }
                return data.subdata(in: Int(f.offset)..<(Int(f.offset) + f.bytes.count)) == f.bytes
            }.flatMap { Array($0.seqs) }
            let after = Dictionary(uniqueKeysWithValues: try OutboxReader(path: repaired).messages().map { ($0.seq, $0.message.id) })
            let missing = intact.filter { after[$0] != originalMessages[$0] }
            #expect(missing.isEmpty, "\(what): intact messages lost to repair: \(missing.prefix(10)) (did \(result.actions))")
            try Outbox(openingAt: repaired, logger: quietLogger).closeBlocking()
            for d in [damaged, writerCopy, repaired] { try? FileManager.default.removeItem(atPath: d) }
        }
    }
}
