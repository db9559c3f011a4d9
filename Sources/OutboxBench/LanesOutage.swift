import Foundation
import Logging
import Outbox
import Synchronization

/// The `lanes.outage` scenario (issue 28): after an outage, a backlog of `bulk` messages drains through a
/// route capped at 64 kbit/s while a `critical` message is appended every second. One round measures a
/// window of the drain (the backlog need not finish) and reports the critical lane's commit-to-publish
/// latencies, the bytes per second on the wire, each lane's bytes against its weighted share, order
/// violations within lanes, and the process's peak resident memory.
package enum LanesOutage {
    /// 64 kbit/s.
    package static let capBytesPerSecond = 8000
    /// The lanes the route runs with (the relay's defaults).
    static let lanes = LaneWeight.defaults

    /// Fills `path` with `messages` `bulk` messages (64 keys), in commits of 1000.
    static func prepare(at path: String, messages: Int, payload: [UInt8], logger: Logger) async throws {
        try await onDedicatedThread("outbox-bench-fill") {
            let outbox = try Outbox(openingAt: path, logger: logger)
            var i = 0
            while i < messages {
                let n = min(1000, messages - i)
                try outbox.appendBlocking(contentsOf: (i..<(i + n)).map {
                    OutboxMessage(type: "Telemetry", key: "sensor-\($0 % 64)", payload: payload, lane: .bulk)
                })
                i += n
            }
            try outbox.closeBlocking()
        }
    }

    /// A sink that takes every batch at once and records, for each message, when it came and its bytes on
    /// the wire (the cap is the relay's: this is the link).
    private final class LinkSink: OutboxSink, @unchecked Sendable {
        struct Sent {
            var seq: UInt64
            var at: ContinuousClock.Instant
            var bytes: Int
            var lane: OutboxLane
            var key: String?
        }
        private let sent = Mutex<[Sent]>([])
        var framingBytes: Int { 64 }

        func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
            let now = ContinuousClock.now
            sent.withLock { s in
                for m in batch { s.append(Sent(seq: m.seq, at: now, bytes: m.wireBytes(framing: 64), lane: m.message.lane, key: m.message.key)) }
            }
            return batch.map { _ in .published }
        }

        var all: [Sent] { sent.withLock { $0 } }
    }

    /// One round: a relay over the outbox at `path` (its backlog left by ``prepare``, and by earlier
    /// rounds), capped at ``capBytesPerSecond``, for `window` plus two seconds of warm-up (the bucket's
    /// first burst), with a critical message appended every `interval`.
    static func round(_ path: String, window: Duration, interval: Duration, payload: [UInt8], logger: Logger) async throws -> BenchSample {
        resetPeakMemory()
        let outbox = try await Outbox.open(at: path, logger: logger)
        let sink = LinkSink()
        var config = OutboxRelayConfiguration()
        config.maxBytesPerSecond = capBytesPerSecond
        config.lanes = lanes
        let relay = OutboxRelay(path: path, sink: sink, configuration: config, outbox: outbox, logger: logger)
        let task = Task { try await relay.run() }
        let start = ContinuousClock.now
        let (from, to) = (start + .seconds(2), start + .seconds(2) + window)
        var committed: [UInt64: (at: ContinuousClock.Instant, bytes: Int)] = [:]
        var n = 0
        do {
            while ContinuousClock.now < to {
                let alarm = OutboxMessage(type: "Alarm", key: "alarm-\(n % 4)", payload: Array(payload.prefix(64)), lane: .critical)
                let seq = try await outbox.append(alarm)
                let bytes = StoredMessage(seq: seq, message: alarm, segment: "", offset: 0, compressed: false).wireBytes(framing: 64)
                committed[seq] = (ContinuousClock.now, bytes)
                n += 1
                try await Task.sleep(until: min(to, start + interval * n), clock: .continuous)
            }
            // The critical messages of the window have a little longer to go.
            try await Task.sleep(for: .seconds(2))
        } catch {
            task.cancel()
            _ = try? await task.value
            try? await outbox.close()
            throw error
        }
        task.cancel()
        try await task.value
        try await outbox.close()
        return measure(sink.all, committed: committed, from: from, to: to)
    }

    /// The round's figures from what the link carried.
    private static func measure(_ sent: [LinkSink.Sent], committed: [UInt64: (at: ContinuousClock.Instant, bytes: Int)], from: ContinuousClock.Instant,
                                to: ContinuousClock.Instant) -> BenchSample {
        let inWindow = sent.filter { $0.at >= from && $0.at < to }
        let bytes = inWindow.reduce(0) { $0 + $1.bytes }
        // Latency of every critical message committed in the window (one never published counts as the
        // time until the round ended, so it cannot hide).
        let end = sent.last?.at ?? to
        let published = Dictionary(sent.map { ($0.seq, $0.at) }, uniquingKeysWith: min)
        let latencies = committed.filter { $0.value.at >= from && $0.value.at < to }.map { (published[$0.key] ?? end) - $0.value.at }
        // Each lane's bytes against what it was entitled to. Bulk (a backlog: always more to send) is
        // entitled to its weighted share of the bytes the link carried in the window. Critical offers less
        // than its share, so it is entitled to all it offered: the messages committed in the window but
        // its last two seconds, which must have gone by its end (a message's bytes as it came: 64 framing).
        let weights = Dictionary(uniqueKeysWithValues: lanes.map { ($0.lane, Double($0.weight)) })
        let bulkShare = Double(bytes) * (weights[.bulk] ?? 1) / ((weights[.bulk] ?? 1) + (weights[.critical] ?? 1))
        let bulkGot = inWindow.filter { $0.lane == .bulk }.reduce(0) { $0 + $1.bytes }
        let offered = committed.filter { $0.value.at >= from && $0.value.at < to - .seconds(2) }
        let criticalGot = sent.filter { offered[$0.seq] != nil && $0.at < to }.reduce(0) { $0 + $1.bytes }
        let criticalOffered = offered.values.reduce(0) { $0 + $1.bytes }
        var shareRatio = bulkShare > 0 ? Double(bulkGot) / bulkShare : 0
        if criticalOffered > 0 { shareRatio = min(shareRatio, Double(criticalGot) / Double(criticalOffered)) }
        // Order within each lane, key by key.
        var last: [String: UInt64] = [:]
        var violations = 0
        for s in sent {
            let k = s.lane.name + "/" + (s.key ?? "")
            if let l = last[k], l > s.seq { violations += 1 }
            last[k] = s.seq
        }
        let window = to - from
        var sample = BenchSample(operations: bytes, elapsed: window, latencies: latencies)
        sample.figures = ["linkUse": Double(bytes) / window.seconds / Double(capBytesPerSecond),
                          "laneShareMin": shareRatio.isFinite ? shareRatio : 0,
                          "orderViolations": Double(violations),
                          "criticalMessages": Double(latencies.count),
                          "peakRSSMiB": peakMemoryMiB()]
        return sample
    }

    /// Resets the process's peak resident set size (Linux: `/proc/self/clear_refs`).
    private static func resetPeakMemory() {
        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    /// The process's peak resident set size since the last reset, in MiB (`VmHWM`), or NaN where unknown.
    private static func peakMemoryMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return .nan }
        return kib / 1024
    }
}
