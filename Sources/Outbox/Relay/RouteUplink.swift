import Foundation

/// One route's uplink limits: the rate cap (``UplinkBucket``) and the period budget, whose spend is
/// kept on disk (``UplinkSpendFile``) and recorded, durably, before each batch goes. Touched only by the
/// route's own task.
final class RouteUplink {
    private let env: RelayEnvironment
    private var bucket: UplinkBucket?
    /// The period budget and what was spent of it (nil without a budget).
    private var spend: UplinkSpendFile?
    /// The sink's framing per message (``OutboxSink/framingBytes``).
    let framing: Int
    /// Whether the budget is spent and the route holds (said once per period).
    private var holding = false

    /// What the next batch may do.
    enum Decision: Equatable {
        /// Go, with at most `limit` bytes on the wire; `strict`: not even one message above it (the
        /// budget), rather than one message whatever its size (the rate cap, which borrows).
        /// `pastBudget`: with ``UplinkBudget/WhenSpent/criticalOnly``, what lane `critical` may send when
        /// the budget left holds nothing more (the rate cap's allowance alone).
        case go(limit: Int, strict: Bool, pastBudget: Int? = nil)
        /// Wait this long first.
        case wait(Duration)
    }

    /// The limits of `env`'s route; nil when it has none.
    init?(_ env: RelayEnvironment, framing: Int, now: ContinuousClock.Instant) {
        let c = env.configuration
        guard c.maxBytesPerSecond != nil || c.uplinkBudget != nil else { return nil }
        self.env = env
        self.framing = framing
        bucket = c.maxBytesPerSecond.map { UplinkBucket(bytesPerSecond: $0, burst: c.burstBytes, now: now) }
        if let budget = c.uplinkBudget {
            let name = env.route ?? "default"
            // The spend of the period a restart interrupted goes on; a new period starts from nothing.
            let kept = UplinkSpendFile.read(route: name, in: env.directory)
            spend = UplinkSpendFile(route: name, budget: budget, periodStartMicros: kept?.periodStartMicros ?? 0, spentBytes: kept?.spentBytes ?? 0)
        }
    }

    /// Starts a new period's spend when the current one is over.
    private func roll(_ wall: Date) -> (start: Date, end: Date)? {
        guard var s = spend else { return nil }
        let bounds = s.budget.bounds(of: wall)
        let start = OutboxMessage.micros(bounds.start)
        if s.periodStartMicros != start {
            (s.periodStartMicros, s.spentBytes) = (start, 0)
            spend = s
            if holding {
                holding = false
                env.logger.notice("uplink budget renewed; publishing again", metadata: ["budget": "\(s.budget)"])
            }
        }
        env.metrics.uplinkBudgetSpent.record(s.spentBytes)
        env.metrics.uplinkBudgetResets.record(bounds.end.timeIntervalSince1970)
        return bounds
    }

    /// What the next batch may do, with `queued` bytes waiting.
    func decide(queued: Int, now: ContinuousClock.Instant, wall: Date) -> Decision {
        var (left, strict, criticalPast) = (Int.max, false, false)
        if let bounds = roll(wall), let spend {
            left = Int(max(0, Int64(spend.budget.bytes) - spend.spentBytes))
            strict = true
            criticalPast = spend.budget.whenSpent == .criticalOnly
            if left == 0 {
                // Spent: hold, or (critical-only) let the next batch try lane critical alone.
                let wait = hold(until: bounds.end, wall: wall)
                if !criticalPast { return .wait(wait) }
            }
        }
        var allowance = Int.max
        if var b = bucket {
            let a = b.allowance(queued: queued, now: now)
            bucket = b
            if a.wait > .zero { return .wait(a.wait) }
            allowance = a.bytes
        }
        return .go(limit: min(left, allowance), strict: strict, pastBudget: criticalPast ? allowance : nil)
    }

    /// The next message is larger than the budget left (or, past the budget, nothing `critical` is
    /// ready): the route holds until the period ends (a `critical` message appended meanwhile wakes it).
    func heldBack(wall: Date) -> Duration {
        guard let bounds = roll(wall) else { return .seconds(1) }
        return hold(until: bounds.end, wall: wall)
    }

    private func hold(until end: Date, wall: Date) -> Duration {
        if !holding, let spend {
            holding = true
            env.logger.notice(spend.budget.whenSpent == .hold ? "uplink budget spent; holding messages until the period ends"
                                : "uplink budget spent; only critical messages go until the period ends",
                              metadata: ["budget": "\(spend.budget)", "until": "\(end)"])
        }
        return .milliseconds(Int64(max(1, end.timeIntervalSince(wall) * 1000).rounded(.up)))
    }

    /// A batch of `bytes` on the wire is about to go: it is counted against the rate cap, and against the
    /// budget durably first (a crash then counts bytes that never went, never the other way round).
    func spend(_ bytes: Int, now: ContinuousClock.Instant) async throws {
        bucket?.spend(bytes, now: now)
        env.metrics.uplinkBytes.increment(by: bytes)
        guard var s = spend else { return }
        s.spentBytes += Int64(bytes)
        let (file, directory) = (s, env.directory)
        try await env.io.run { try file.write(in: directory) }
        spend = s
        env.metrics.uplinkBudgetSpent.record(s.spentBytes)
    }
}
