import Foundation

extension OutboxReader {
    /// What each lane has pending (messages the outbox has not finished: ``RouteBacklog``, by lane name,
    /// in the order lanes first appear), by one walk of the pending messages: `outbox stats --lanes`.
    package func laneBacklogs(now: ClockReading = OutboxClock.system.now()) throws -> [(lane: String, backlog: RouteBacklog)] {
        let finished = try tombstones().finished
        var order: [String] = []
        var out: [String: RouteBacklog] = [:]
        try forEachMessage(from: finished.firstMissing(from: 1)) { m in
            guard !finished.contains(m.seq) else { return true }
            let lane = m.message.lane.name
            if out[lane] == nil {
                order.append(lane)
                var b = RouteBacklog()
                (b.oldestSeq, b.oldestAgeSeconds) = (m.seq, max(0, Double(m.ageMicros(at: now)) / 1e6))
                out[lane] = b
            }
            out[lane]!.pending += 1
            return true
        }
        return order.map { ($0, out[$0]!) }
    }
}
