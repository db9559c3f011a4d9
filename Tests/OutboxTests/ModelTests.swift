import Foundation
import Testing
@testable import Outbox

@Suite("Model-based")
struct ModelTests {
    /// Random sequences of commits (single and atomic multi-message), segment rolls, tombstones,
    /// compactions, checkpoints and reopenings read back as a simple in-memory model says they should.
    @Test func randomOperationsMatchAnInMemoryModel() async throws {
        let seed = testSeed("randomOperationsMatchAnInMemoryModel")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var model: [UInt64: OutboxMessage] = [:]
        var status: [UInt64: MessageStatus] = [:]
        // Half the runs have a disk budget small enough to be hit: appends then fail whole with outbox-full
        // and change nothing, until acknowledgements and compaction free room.
        let budget: Int64? = Bool.random(using: &g) ? Int64.random(in: 100_000...200_000, using: &g) : nil
        let onFull: FullPolicy = Bool.random(using: &g) ? .reject : .dropOldest
        print("[randomOperationsMatchAnInMemoryModel] disk budget \(budget.map { "\($0) bytes, \(onFull.rawValue)" } ?? "none")")
        func openOutbox(_ g: inout SeededGenerator) async throws -> Outbox {
            var c = configuration(segmentSize: Int.random(in: 300...3000, using: &g))
            c.maxDiskBytes = budget ?? 0
            c.onFull = onFull
            return try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        }
        var full = 0
        var outbox = try await openOutbox(&g)
        try await outbox.append(sampleMessage(0))
        model[1] = try OutboxReader(path: dir).messages()[0].message
        var log = try await TombstoneLog.open(at: dir, checkpointBytes: 300, logger: quietLogger)
        for step in 0..<400 {
            switch Int.random(in: 0..<100, using: &g) {
            case 0..<45:
                let m = sampleMessage(step, payloadSize: Int.random(in: 0...(budget == nil ? 200 : 2000), using: &g))
                do { model[try await outbox.append(m)] = m } catch let e as OutboxError where e.code == .outboxFull && budget != nil { full += 1 }
            case 45..<60:
                let batch = (0..<Int.random(in: 2...5, using: &g)).map { sampleMessage(step * 10 + $0) }
                do {
                    for (seq, m) in zip(try await outbox.append(contentsOf: batch), batch) { model[seq] = m }
                } catch let e as OutboxError where e.code == .outboxFull && budget != nil { full += 1 }
            case 60..<80:
                let candidates = model.keys.filter { status[$0] == nil }.sorted()
                guard !candidates.isEmpty else { continue }
                let chosen = candidates.prefix(Int.random(in: 1...8, using: &g)).filter { _ in Int.random(in: 0..<4, using: &g) > 0 }
                let s: MessageStatus = [.published, .dead, .expired][Int.random(in: 0..<3, using: &g)]
                try await log.acknowledge(chosen, as: s)
                for seq in chosen { status[seq] = s }
            case 80..<90:
                try await log.compact(forceCheckpoint: Bool.random(using: &g))
            case 90..<95:
                try await outbox.close()
                outbox = try await openOutbox(&g)
            default:
                try await log.close()
                log = try await TombstoneLog.open(at: dir, checkpointBytes: 300, logger: quietLogger)
            }
            if step % 50 == 49 { try check(dir, model, status, seed, budget: budget) }
        }
        try await log.close()
        try await outbox.close()
        try check(dir, model, status, seed, budget: budget)
        if budget != nil {
            let dropped = try OutboxReader(path: dir).tombstones().dropped.count
            print("[randomOperationsMatchAnInMemoryModel] \(full) appends refused as full, \(dropped) numbers dropped")
        }
    }

    private func check(_ dir: String, _ model: [UInt64: OutboxMessage], _ status: [UInt64: MessageStatus], _ seed: UInt64,
                       budget: Int64?) throws {
        let reader = try OutboxReader(path: dir)
        if let budget {
            let used = try reader.stats().usedBytes
            #expect(used <= budget, "seed \(seed): \(used) bytes used, over the \(budget)-byte budget")
        }
        let stored = try reader.messages()
        let tombstones = try reader.tombstones()
        // drop-oldest may have dropped pending messages (only the oldest, whole segments): they count as
        // finished, with the status dropped; published, dead and expired come first.
        for seq in model.keys.sorted() {
            let expected = status[seq] ?? (tombstones.dropped.contains(seq) ? .dropped : .pending)
            #expect(tombstones.status(of: seq) == expected, "seed \(seed): status of \(seq)")
        }
        if let first = stored.first?.seq, !tombstones.dropped.isEmpty {
            #expect(tombstones.dropped.ranges.allSatisfy { $0.upperBound < first }, "seed \(seed): only the oldest are dropped: \(tombstones.dropped)")
        }
        // Only finished messages may have been compacted away; everything stored matches the model.
        let storedSeqs = Set(stored.map(\.seq))
        for seq in model.keys where !storedSeqs.contains(seq) {
            #expect(status[seq] != nil || tombstones.dropped.contains(seq), "seed \(seed): pending message \(seq) is gone")
        }
        for m in stored { #expect(model[m.seq] == m.message, "seed \(seed): message \(m.seq) differs") }
        #expect(stored.map(\.seq) == Array((stored.first?.seq ?? 1)...(stored.last?.seq ?? 0)), "seed \(seed): dense")
        #expect(stored.last?.seq == model.keys.max(), "seed \(seed): the last message is stored")
        let pending = try reader.pendingMessages().map(\.seq)
        #expect(pending == model.keys.filter { status[$0] == nil && !tombstones.dropped.contains($0) }.sorted(), "seed \(seed): pending")
    }

    /// `SequenceRangeSet.subtracting` against plain sets of numbers (near the top of the range too).
    @Test func subtractingRangeSetsMatchesSetDifference() {
        let seed = testSeed("subtractingRangeSetsMatchesSetDifference")
        var g = SeededGenerator(seed: seed)
        for round in 0..<500 {
            let low: UInt64 = round % 5 == 0 ? UInt64.max - 60 : 1
            func randomSet() -> (SequenceRangeSet, Set<UInt64>) {
                var set = SequenceRangeSet()
                var plain = Set<UInt64>()
                for _ in 0..<Int(g.next() % 6) {
                    let a = low + g.next() % 50, b = a + min(g.next() % 10, UInt64.max - a)
                    set.insert(a...b)
                    plain.formUnion(a...b)
                }
                return (set, plain)
            }
            let (a, plainA) = randomSet(), (b, plainB) = randomSet()
            let difference = a.subtracting(b)
            #expect(Set(difference.ranges.flatMap { Array($0) }) == plainA.subtracting(plainB), "seed \(seed), round \(round): \(a) - \(b) = \(difference)")
        }
    }

    @Test func errorCodesAreStableDistinctTextAndRoundTrip() {
        let all = OutboxError.Code.allCases
        #expect(Set(all.map(\.rawValue)).count == all.count, "no two codes share a text")
        for c in all { #expect(OutboxError.Code(rawValue: c.rawValue) == c) }
        #expect(OutboxError.Code(rawValue: "no-such-code") == nil)
        #expect(OutboxError.Code.noSpace.rawValue == "no-space" && "\(OutboxError.Code.locked)" == "locked")
    }
}
