/// Records what became of each message the relay handled: published ones are tombstoned, dead ones go
/// to the dead-letter file first and are then tombstoned as dead, expired ones are tombstoned as expired
/// (after a copy to the dead-letter file if ``OutboxRelayConfiguration/deadLetterExpired``).
///
/// Tombstone commits of published batches run while the next batch is published: at most two in
/// flight. ``settle()`` waits for them; the relay calls it before anything that reads the tombstones
/// (compaction, the sweep) and before it waits or stops.
final class RelayLedger {
    private let env: RelayEnvironment
    let deadLetters: RelayDeadLetters
    private var acks: [Task<Void, any Error>] = []

    init(_ env: RelayEnvironment) {
        self.env = env
        deadLetters = RelayDeadLetters(env)
    }

    /// Dead letters go to the dead-letter file, durably, before their messages are tombstoned as dead.
    func bury(_ dead: [DeadLetter]) async throws {
        guard !dead.isEmpty else { return }
        let dead = stamped(dead)
        deadLetters.settled(dead.map(\.seq))  // a redriven message that died again has a new dead letter
        try await deadLetters.append(dead)
        try await env.finish(dead, as: .dead)
        for d in dead {
            env.logger.warning("dead-lettered", metadata: ["seq": "\(d.seq)", "id": "\(d.message.id)",
                                                           "reason": "\(d.reason)", "error": "\(d.lastError)"])
        }
        env.metrics.deadLettered.increment(by: dead.count)
    }

    /// Messages past their deliver-by deadline are tombstoned as expired (never published). One line per
    /// batch.
    func retire(_ expired: [DeadLetter]) async throws {
        guard !expired.isEmpty else { return }
        let expired = stamped(expired)
        deadLetters.settled(expired.map(\.seq))
        if env.configuration.deadLetterExpired { try await deadLetters.append(expired) }
        let seqs = SequenceRangeSet(expired.map(\.seq))
        try await env.finish(expired, as: .expired)
        env.logger.notice("messages expired before they could be published (deliver-by deadline passed)", metadata: [
            "count": "\(expired.count)", "seqs": "\(seqs)"])
        env.metrics.expired.increment(by: expired.count)
    }

    /// Tombstones what the sink confirmed, in the background while nothing is being redriven; redriven
    /// dead letters (tombstoned as dead already) are marked redriven in the dead-letter file instead.
    func published(_ messages: [StoredMessage]) async throws {
        guard deadLetters.redriving.isEmpty else {
            try await settle()
            let (plain, redriven) = deadLetters.split(messages.map(\.seq))
            let plainSet = Set(plain)
            try await env.finish(messages.filter { plainSet.contains($0.seq) }, as: .published)
            return try await deadLetters.markRedriven(redriven)
        }
        if acks.count >= 2 { try await acks.removeFirst().value }
        let env = env
        acks.append(Task { try await env.finish(messages, as: .published) })
    }

    /// The letters with the route that gave up on them, when the relay has several.
    private func stamped(_ letters: [DeadLetter]) -> [DeadLetter] {
        guard env.recordsRoute, let route = env.route else { return letters }
        return letters.map { var l = $0; l.route = route; return l }
    }

    /// Waits until every tombstone commit begun in the background is durable.
    func settle() async throws {
        while !acks.isEmpty { try await acks.removeFirst().value }
    }
}
