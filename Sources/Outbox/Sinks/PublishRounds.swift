/// Pipelined publishing that keeps per-key order, for sinks that send many messages before waiting
/// for the broker's acknowledgements.
///
/// The batch is split into rounds: round *r* holds the *r*-th message of each ordering key, in batch
/// order (messages without an ordering key all go in the first round). `publishRound` sends a round's
/// messages at once and waits for their acknowledgements, returning one outcome per message. A message
/// is never sent before the earlier messages of its key in the batch were acknowledged, and once one
/// of them did not succeed the rest of its key are reported as failed without being sent. So a retried
/// message can never land behind a later message of its key. Once a round reports the sink
/// unavailable, no later round is sent: its messages are reported unavailable too.
public enum PublishRounds {
    public static func run(
        _ batch: [StoredMessage], _ publishRound: ([StoredMessage]) -> [PublishOutcome]
    ) -> [PublishOutcome] {
        var rounds: [[Int]] = []
        var seen: [String: Int] = [:]
        for (i, m) in batch.enumerated() {
            var r = 0
            if let key = m.orderingKey {
                r = seen[key, default: 0]
                seen[key] = r + 1
            }
            if r == rounds.count { rounds.append([]) }
            rounds[r].append(i)
        }
        var outcomes = [PublishOutcome](repeating: .failed("not published"), count: batch.count)
        var failedKeys = Set<String>()
        var outage: String?
        for round in rounds {
            var send: [Int] = []
            for i in round {
                if let outage {
                    outcomes[i] = .unavailable(outage)
                } else if let key = batch[i].orderingKey, failedKeys.contains(key) {
                    outcomes[i] = .failed("an earlier message of ordering key \(key) failed in this batch")
                } else {
                    send.append(i)
                }
            }
            guard !send.isEmpty else { continue }
            let results = publishRound(send.map { batch[$0] })
            for (j, i) in send.enumerated() {
                outcomes[i] = j < results.count ? results[j] : .failed("the sink returned no outcome")
                if case .unavailable(let why) = outcomes[i], outage == nil { outage = why }
                if outcomes[i].holdsBackKey, let key = batch[i].orderingKey { failedKeys.insert(key) }
            }
        }
        return outcomes
    }
}
