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
        try await OutboxWorkload.backlog(at: path, messages: messages, keyed: true, payload: payload, lane: .bulk, logger: logger)
    }

    /// What the link carried: one message, when it arrived and its bytes on the wire.
    struct Sent {
        var seq: UInt64
        var at: ContinuousClock.Instant
        var bytes: Int
        var lane: OutboxLane
        var key: String?
    }

    /// One round: `outbox relay` in a process of its own (so that its memory is its own) over the outbox
    /// at `path` (its backlog left by ``prepare``, and by earlier rounds), capped at ``capBytesPerSecond``,
    /// publishing to its standard output, which this process reads as the link; for `window` plus two
    /// seconds of warm-up (the bucket's first burst), with a critical message appended every `interval`
    /// by a writer in this process.
    static func round(_ path: String, window: Duration, interval: Duration, payload: [UInt8], logger: Logger) async throws -> BenchSample {
        let outbox = try await Outbox.open(at: path, logger: logger)
        let link = try Link(path: path)
        defer { link.stop() }
        // The relay is active once it publishes: the backlog's first batch.
        let deadline = ContinuousClock.now + .seconds(60)
        while link.sent.isEmpty {
            guard link.isRunning, ContinuousClock.now < deadline else {
                try? await outbox.close()
                throw OutboxError(.broker, "the relay of lanes.outage published nothing (\(link.isRunning ? "within 60 s" : "it exited"))", path: path)
            }
            try await Task.sleep(for: .milliseconds(5))
        }
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
            try? await outbox.close()
            throw error
        }
        let peak = link.peakMemoryMiB()
        link.stop()
        try await outbox.close()
        var sample = measure(link.sent, committed: committed, from: from, to: to)
        sample.figures["peakRSSMiB"] = peak
        return sample
    }

    /// `outbox relay DIR --sink stdout` with the cap and the lanes, its standard output read line by line
    /// on a thread of its own.
    private final class Link: @unchecked Sendable {
        private let process = Process()
        private let pipe = Pipe()
        /// What the reader thread took from the pipe.
        private final class Received: Sendable {
            let sent = Mutex<[Sent]>([])
        }
        private let received = Received()
        private let reader: Thread

        init(path: String) throws {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            process.arguments = ["relay", path, "--sink", "stdout", "--max-bytes-per-second", "\(LanesOutage.capBytesPerSecond)",
                                 "--lanes", lanes.map(\.description).joined(separator: ",")]
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            let (handle, received) = (pipe.fileHandleForReading, received)
            reader = Thread {
                var pending: [UInt8] = []
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return }
                    let now = ContinuousClock.now
                    pending += chunk
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        if let sent = Link.parse(pending[..<newline], at: now) { received.sent.withLock { $0.append(sent) } }
                        pending.removeSubrange(...newline)
                    }
                }
            }
            try process.run()
            reader.start()
        }

        var isRunning: Bool { process.isRunning }
        var sent: [Sent] { received.sent.withLock { $0 } }

        /// The relay's peak resident set size (`VmHWM`), in MiB, or NaN where unknown.
        func peakMemoryMiB() -> Double {
            guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                  let kib = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return .nan }
            return kib / 1024
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }

        /// A record of the stdout sink (``SinkRecord``) as the link carried it: its bytes on the wire are
        /// counted as the relay counts them (``StoredMessage/wireBytes(framing:)``, 64 bytes of framing).
        static func parse(_ line: ArraySlice<UInt8>, at: ContinuousClock.Instant) -> Sent? {
            guard let o = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let seq = (o["seq"] as? NSNumber)?.uint64Value,
                  let type = o["type"] as? String, let payload = (o["payload"] as? String).flatMap({ Data(base64Encoded: $0) }) else { return nil }
            let headers = (o["headers"] as? [[String: String]] ?? []).map { OutboxMessage.Header($0["name"] ?? "", $0["value"] ?? "") }
            let lane = OutboxLane(o["lane"] as? String ?? OutboxLane.normal.name)
            let m = OutboxMessage(type: type, key: o["key"] as? String, headers: headers, payload: Array(payload), lane: lane)
            let bytes = StoredMessage(seq: seq, message: m, segment: "", offset: 0, compressed: false).wireBytes(framing: 64)
            return Sent(seq: seq, at: at, bytes: bytes, lane: lane, key: m.key)
        }
    }

    /// The round's figures from what the link carried.
    private static func measure(_ sent: [Sent], committed: [UInt64: (at: ContinuousClock.Instant, bytes: Int)], from: ContinuousClock.Instant,
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
                          "criticalMessages": Double(latencies.count)]
        return sample
    }
}
