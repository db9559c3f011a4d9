import Foundation
import Testing
@testable import Outbox

/// A sink that records its batches and holds each until the test lets it go (``release()``), so a test
/// can append while a batch is out and see which batch a message went with.
private final class GatedSink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _batches: [[StoredMessage]] = []
    private var released = 0

    var batches: [[StoredMessage]] { lock.withLock { _batches } }
    func release() { lock.withLock { released += 1 } }

    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let number = lock.withLock { () -> Int in
            _batches.append(batch)
            return _batches.count
        }
        while lock.withLock({ released < number }) { try? await Task.sleep(for: .milliseconds(1)) }
        return batch.map { _ in .published }
    }
}

private func message(_ i: Int, _ lane: OutboxLane, key: String? = nil, size: Int = 100) -> OutboxMessage {
    OutboxMessage(type: "T", key: key ?? "k\(i % 10)", payload: [UInt8](repeating: UInt8(i & 0xFF), count: size), lane: lane)
}

@Suite("Lanes in the relay")
struct LaneRelayTests {
    /// A tail of one lane reads its messages only, and passes over the rest without reading them: a
    /// sealed segment of bulk messages whose frame bodies are damaged is never opened by the critical
    /// tail (its seal says it holds no critical message), and a damaged bulk frame in the active segment
    /// is passed over by its header; the tail of every lane finds both damages.
    @Test func aTailOfOneLaneReadsNothingOfTheOthers() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 4096), logger: quietLogger)
        for i in 0..<60 { try await outbox.append(message(i, .bulk)) }
        try await outbox.append(contentsOf: [message(60, .critical), message(61, .normal), message(62, "camera-1")])
        for i in 63..<70 { try await outbox.append(message(i, .bulk)) }
        try await outbox.close()
        let reader = try OutboxReader(path: dir)
        let all = try reader.messages()
        let first = try segmentNames(dir)[0]
        #expect(all.filter { $0.segment == first }.allSatisfy { $0.message.lane == .bulk })
        // Damage a frame body in the first (sealed, bulk only) segment and in the last bulk frame.
        for victim in [all.first { $0.segment == first }!, all.last!] {
            let path = dir + "/" + victim.segment
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[Int(victim.offset) + FrameHeader.size + 60] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        func read(_ lanes: LaneSelection) throws -> [StoredMessage] {
            let tail = LogTail(directory: reader.directory, outboxID: reader.outboxID, from: 1)
            tail.lanes = lanes
            var out: [StoredMessage] = []
            for _ in 0..<100 {
                let got = try tail.read(limit: 1000)
                if got.isEmpty && tail.nextSeq > all.last!.seq { return out }
                out += got
            }
            Issue.record("the tail of \(lanes) does not reach the end: at \(tail.nextSeq)")
            return out
        }
        #expect(try read(.only(["critical"])).map(\.seq) == [61])
        #expect(try read(.allBut(["critical", "bulk"])).map(\.seq) == [62, 63])
        #expect(throws: OutboxError.self, "the bulk tail checks every bulk frame") { try read(.only(["bulk"])) }
        #expect(throws: OutboxError.self, "so does a tail of every lane") { try read(.all) }
    }

    /// The queue shares the uplink by weight while lanes have messages: with critical 8, normal 4 and
    /// bulk 1 all backlogged, the bytes of the first batches split 8:4:1 (±5% of each lane's share), bulk
    /// gets its share from the first round on (no starvation), and every lane keeps its keys' order.
    @Test func lanesShareByWeightAndNoneStarves() {
        var config = relayConfiguration()
        config.lanes = LaneWeight.defaults
        var queue = RelayQueue(configuration: config)
        var seq: UInt64 = 0
        let lanes: [OutboxLane] = [.critical, .normal, .bulk]
        var stored: [StoredMessage] = []
        for i in 0..<6000 {
            seq += 1
            stored.append(StoredMessage(seq: seq, message: message(i, lanes[i % 3], key: "k\(i % 7)", size: 200), segment: "s", offset: 0,
                                        compressed: false))
        }
        queue.add(stored)
        var bytes: [OutboxLane: Int] = [:]
        // The bytes at the end of each round (bulk, listed last, ends it): shares are compared over whole rounds.
        var atRoundEnd: [OutboxLane: Int] = [:]
        var firstBatchOf: [OutboxLane: Int] = [:]
        var lastSeq: [String: UInt64] = [:]
        var orderHolds = true
        var batches = 0
        // Until a lane runs dry: critical has the most weight, and 2000 messages of 300 wire bytes.
        while batches < 200 {
            let batch = queue.nextBatch(now: .now)
            guard !batch.isEmpty else { break }
            let lane = batch[0].message.lane
            if Set(batch.map(\.message.lane)).count != 1 { orderHolds = false }
            firstBatchOf[lane] = firstBatchOf[lane] ?? batches
            for m in batch {
                bytes[lane, default: 0] += m.wireBytes()
                let key = "\(lane.name)/\(m.message.key!)"
                if let last = lastSeq[key], last > m.seq { orderHolds = false }
                lastSeq[key] = m.seq
            }
            _ = queue.apply(batch.map { _ in .published }, to: batch, now: .now, clock: OutboxClock.system.now())
            if lane == .bulk { atRoundEnd = bytes }
            batches += 1
            if queue.laneHeld.contains(where: { $0.count == 0 }) { break }
        }
        #expect(orderHolds, "one lane per batch, each key in order within its lane")
        #expect(firstBatchOf[.bulk].map { $0 <= 3 } == true, "bulk goes in the first round: \(firstBatchOf)")
        let total = Double(atRoundEnd.values.reduce(0, +))
        for (lane, weight) in [(OutboxLane.critical, 8.0), (.normal, 4.0), (.bulk, 1.0)] {
            let share = Double(atRoundEnd[lane, default: 0]) / total
            let expected = weight / 13
            #expect(abs(share - expected) <= expected * 0.05, "\(lane): \(share) of the bytes, its weight's share is \(expected)")
        }
        print("[lanesShareByWeight] \(batches) batches, bytes by lane \(bytes)")
    }

    /// Behind a backlog of bulk messages, a critical message appended while a batch is out goes with one
    /// of the next two batches, not after the backlog; everything is published, each lane's keys in order.
    @Test func aCriticalMessageOvertakesTheBacklog() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 256 << 10), logger: quietLogger)
        for chunk in 0..<20 { try await outbox.append(contentsOf: (0..<500).map { message(chunk * 500 + $0, .bulk, key: "k\($0 % 5)") }) }
        let sink = GatedSink()
        var config = relayConfiguration()
        config.batchSize = 200
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: quietLogger)
        try await running(relay) {
            try await eventually("the first batch is out") { sink.batches.count == 1 }
            sink.release()
            try await eventually("the second batch is out") { sink.batches.count == 2 }
            let critical = try await outbox.append(message(0, .critical, key: "k1"))
            for _ in 0..<3 { sink.release() }
            try await eventually("the critical message is out") { sink.batches.contains { $0.contains { $0.seq == critical } } }
            let at = sink.batches.firstIndex { $0.contains { $0.seq == critical } }!
            #expect(at <= 3, "appended while batch 2 was out, it went with batch \(at + 1) of \(sink.batches.count), not after 10,000 bulk messages")
            while sink.batches.reduce(0, { $0 + $1.count }) < 10_001 {
                sink.release()
                try await Task.sleep(for: .milliseconds(1))
            }
            for _ in 0..<5 { sink.release() }
        }
        try await outbox.close()
        let published = sink.batches.flatMap { $0 }
        #expect(Set(published.map(\.seq)).count == 10_001)
        #expect(perKeyOrderHolds(published.map { ("\($0.message.lane.name)/\($0.message.key!)", $0.seq) }))
    }

    /// With live classes, a lane's backlog and its live messages share its turns by bytes (half each by
    /// default) while both have messages ready, each batch of one class; either takes every batch while
    /// the other has none; the lanes' round robin is unchanged.
    @Test func liveAndBacklogShareTheirLane() {
        var config = relayConfiguration()
        config.batchSize = 50
        config.live = LiveShare(within: .seconds(60), share: 0.25)
        var queue = RelayQueue(configuration: config)
        var seq: UInt64 = 0
        func stored(_ n: Int, key: Bool) -> [StoredMessage] {
            (0..<n).map { i in
                seq += 1
                return StoredMessage(seq: seq, message: message(i, .normal, key: key ? "k\(i % 3)" : nil, size: 200), segment: "s", offset: 0, compressed: false)
            }
        }
        queue.add(stored(3000, key: true))
        queue.add(stored(3000, key: false).map { var m = $0; m.orderingKey = nil; return m }, live: true)
        var (backlog, live) = (0, 0)
        var batches = 0
        while batches < 40 {
            let batch = queue.nextBatch(now: .now)
            guard !batch.isEmpty else { break }
            let isLive = batch.lane >= queue.lanes.count
            #expect(batch.allSatisfy { ($0.orderingKey == nil) == isLive }, "one class per batch")
            if isLive { live += batch.bytes } else { backlog += batch.bytes }
            _ = queue.apply(batch.map { _ in .published }, to: batch, now: .now, clock: OutboxClock.system.now())
            batches += 1
        }
        let share = Double(live) / Double(live + backlog)
        print("[liveAndBacklogShareTheirLane] live \(live) bytes, backlog \(backlog) bytes over \(batches) batches: \(share)")
        #expect(abs(share - 0.25) <= 0.25 * 0.1, "live's share of the lane: \(share), asked 0.25")
        // The backlog runs dry: live takes every batch.
        while true {
            let batch = queue.nextBatch(now: .now)
            guard !batch.isEmpty else { break }
            _ = queue.apply(batch.map { _ in .published }, to: batch, now: .now, clock: OutboxClock.system.now())
        }
        #expect(queue.count == 0)
    }

    /// Live before backlog through a relay: behind a backlog an hour old (the reader is more than
    /// `within` behind), key-less messages appended meanwhile go long before the backlog is through,
    /// marked with no delay; a keyed message waits for its key's backlog (its order holds); every backlog
    /// message carries `outbox-delayed-by` (at least an hour); each message is published once.
    @Test func liveMessagesInterleaveWithTheBacklog() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 256 << 10), logger: quietLogger)
        let hourAgo = Date().addingTimeInterval(-3600)
        for chunk in 0..<10 {
            try await outbox.append(contentsOf: (0..<500).map { i in
                OutboxMessage(type: "T", key: "k\(i % 5)", payload: [UInt8](repeating: 1, count: 100), createdAt: hourAgo.addingTimeInterval(Double(chunk * 500 + i) / 1000))
            })
        }
        let sink = GatedSink()
        var config = relayConfiguration()
        config.batchSize = 100
        config.maxInMemory = 1000
        config.live = LiveShare(within: .seconds(60))
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox, logger: quietLogger)
        var live: [UInt64] = []
        var keyed: UInt64 = 0
        try await running(relay) {
            try await eventually("the first batch is out") { sink.batches.count == 1 }
            live = Array(try await outbox.append(contentsOf: (0..<20).map { i in OutboxMessage(type: "Live", payload: [UInt8](repeating: 2, count: 100)) }))
            keyed = try await outbox.append(OutboxMessage(type: "LiveKeyed", key: "k1", payload: [2]))
            sink.release()
            try await eventually("the live messages are out") {
                sink.release()
                return Set(sink.batches.flatMap { $0 }.map(\.seq)).isSuperset(of: live)
            }
            let backlogOut = sink.batches.flatMap { $0 }.filter { $0.seq <= 5000 }.count
            #expect(backlogOut < 2500, "the live messages went while the backlog drained: \(backlogOut) of 5,000 backlog messages before them")
            while sink.batches.reduce(0, { $0 + $1.count }) < 5021 {
                sink.release()
                try await Task.sleep(for: .milliseconds(1))
            }
            for _ in 0..<5 { sink.release() }
        }
        try await outbox.close()
        let published = sink.batches.flatMap { $0 }
        #expect(published.count == 5021 && Set(published.map(\.seq)).count == 5021, "each message once: \(published.count)")
        #expect(perKeyOrderHolds(published.filter { $0.message.key != nil }.map { ($0.message.key!, $0.seq) }))
        let lastK1 = published.lastIndex { $0.message.key == "k1" && $0.seq != keyed }!
        #expect(published.firstIndex { $0.seq == keyed }! > lastK1, "the keyed message waits for its key's backlog")
        func delay(_ m: StoredMessage) -> Int? { m.message.headers.first { $0.name == LiveShare.delayedByHeader }.flatMap { Int($0.value) } }
        let unmarked = published.filter { $0.seq <= 5000 && (delay($0) ?? 0) < 3_590_000 }
        #expect(unmarked.count == 0, "the backlog is marked an hour late: \(unmarked.count) not, first \(unmarked.first.map { "\($0.seq) \($0.message.createdAt) \($0.message.headers)" } ?? "")")
        #expect(published.filter { live.contains($0.seq) }.allSatisfy { delay($0) == nil }, "live messages are not")
    }
}
