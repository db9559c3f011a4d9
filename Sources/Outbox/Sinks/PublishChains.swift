/// Pipelined publishing that keeps per-key order without waiting for a whole round: for sinks whose
/// client reports each acknowledgement as it comes (NATS JetStream).
///
/// Every key-less message and the first message of every ordering key are sent at once. Each time an
/// acknowledgement arrives, the next message of that key (if any) is sent. So a message is never sent
/// before the earlier messages of its key in the batch were acknowledged, as with ``PublishRounds``, but
/// a slow acknowledgement holds back only its own key, and the broker always has every key's next
/// message to work on. Once a message of a key did not succeed, the rest of its key are reported as
/// failed without being sent; once the sink is reported unavailable, nothing more is sent and every
/// message not sent is reported unavailable too (those in flight still get their outcomes).
package enum PublishChains {
    /// Publishes `batch` and returns one outcome per message, in order.
    ///
    /// - `send` hands one message to the client and returns nil when it is in flight, or its outcome when
    ///   the client refused it at once.
    /// - `awaitOutcomes` blocks until messages in flight have their outcomes, by sequence number: as many
    ///   as it is asked for, or fewer a moment after the first (so that the sink wakes once for several
    ///   acknowledgements, not once for each); an empty answer means that none came in time: every
    ///   message still in flight is then reported with `timedOut` (the client takes them back, so that a
    ///   late acknowledgement is not credited to a later batch).
    package static func run(
        _ batch: [StoredMessage], send: (StoredMessage) -> PublishOutcome?, awaitOutcomes: (_ atLeast: Int) -> [(UInt64, PublishOutcome)],
        timedOut: PublishOutcome
    ) -> [PublishOutcome] {
        var outcomes = [PublishOutcome?](repeating: nil, count: batch.count)
        // Per key, the batch positions still to send, in order.
        var chains: [String: [Int]] = [:]
        var first: [Int] = []
        for (i, m) in batch.enumerated() {
            if let key = m.orderingKey {
                if chains[key] == nil { first.append(i) }
                chains[key, default: []].append(i)
            } else {
                first.append(i)
            }
        }
        var next: [String: Int] = [:]  // per key, the position in its chain of the next message to send
        // Keys with messages not sent yet: while there are any, each acknowledgement may send one.
        var keysWithMore = chains.values.filter { $0.count > 1 }.count
        var inFlight: [UInt64: Int] = [:]
        var outage: String?
        var settled: [(Int, PublishOutcome)] = []

        func start(_ i: Int) {
            if let outage {
                outcomes[i] = .unavailable(outage)
            } else if let outcome = send(batch[i]) {
                settled.append((i, outcome))
            } else {
                inFlight[batch[i].seq] = i
            }
        }
        /// Records `outcome` for position `i` and starts what it allows: the next message of its key,
        /// or (when it did not succeed) nothing more of its key.
        func settle(_ i: Int, _ outcome: PublishOutcome) {
            outcomes[i] = outcome
            if case .unavailable(let why) = outcome, outage == nil { outage = why }
            guard let key = batch[i].orderingKey, let chain = chains[key] else { return }
            let n = next[key, default: 1]
            guard n < chain.count else { return }
            if outcome.holdsBackKey {
                for j in chain[n...] {
                    outcomes[j] = outage.map { .unavailable($0) } ?? .failed("an earlier message of ordering key \(key) failed in this batch")
                }
                next[key] = chain.count
            } else {
                next[key] = n + 1
                start(chain[n])
            }
            if next[key, default: 1] >= chain.count { keysWithMore -= 1 }
        }
        func drainSettled() {
            while let (i, outcome) = settled.popLast() { settle(i, outcome) }
        }

        for i in first { start(i) }
        drainSettled()
        while !inFlight.isEmpty {
            // Wake at the first acknowledgement while a key has more to send (it may send the next), or only
            // once everything in flight is acknowledged when nothing waits behind it.
            let arrived = awaitOutcomes(keysWithMore > 0 ? 1 : inFlight.count)
            if arrived.isEmpty {
                let stuck = inFlight.values.sorted()
                inFlight = [:]
                if case .unavailable(let why) = timedOut, outage == nil { outage = why }
                for i in stuck { settle(i, timedOut) }
                drainSettled()
                continue
            }
            for (seq, outcome) in arrived {
                guard let i = inFlight.removeValue(forKey: seq) else { continue }  // not of this batch
                settle(i, outcome)
            }
            drainSettled()
        }
        return outcomes.map { $0 ?? .unavailable(outage ?? "not published") }
    }
}
