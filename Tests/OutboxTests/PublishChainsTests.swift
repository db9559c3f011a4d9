import Testing
@testable import Outbox

/// ``PublishChains`` against a simulated broker that acknowledges in a random order: per-key order holds
/// (nothing of a key is sent before the earlier one was acknowledged), every message gets its outcome,
/// failures hold back only their own key, and an outage or a silent broker stops what is not sent.
@Suite("Pipelined publishing in per-key chains")
struct PublishChainsTests {
    /// A broker with messages in flight; `answer` decides each outcome, and acknowledgements come back
    /// in a random order, a random number at a time.
    private final class Broker {
        var inFlight: [StoredMessage] = []
        var sent: [UInt64] = []
        var acknowledged: Set<UInt64> = []
        var violations: [String] = []
        var g: SeededGenerator
        let answer: (StoredMessage) -> PublishOutcome?
        let batch: [StoredMessage]

        init(_ batch: [StoredMessage], seed: UInt64, answer: @escaping (StoredMessage) -> PublishOutcome? = { _ in .published }) {
            self.batch = batch
            g = SeededGenerator(seed: seed)
            self.answer = answer
        }

        func send(_ m: StoredMessage) -> PublishOutcome? {
            // Every earlier message of its key must have its outcome already.
            for e in batch where e.seq < m.seq && e.orderingKey != nil && e.orderingKey == m.orderingKey && !acknowledged.contains(e.seq) {
                violations.append("\(m.seq) sent before \(e.seq) of key \(m.orderingKey!) was acknowledged")
            }
            sent.append(m.seq)
            inFlight.append(m)
            return nil
        }

        func await(_ atLeast: Int) -> [(UInt64, PublishOutcome)] {
            var out: [(UInt64, PublishOutcome)] = []
            let n = min(inFlight.count, max(atLeast, 1 + Int(g.next() % UInt64(inFlight.count))))
            for _ in 0..<n {
                let m = inFlight.remove(at: Int(g.next() % UInt64(inFlight.count)))
                guard let outcome = answer(m) else { continue }  // silent: never acknowledged
                acknowledged.insert(m.seq)
                out.append((m.seq, outcome))
            }
            return out
        }
    }

    @Test func perKeyOrderHoldsAndEveryMessageIsPublishedWhateverTheAcknowledgementOrder() {
        let seed = testSeed("perKeyOrderHoldsAndEveryMessageIsPublishedWhateverTheAcknowledgementOrder")
        var g = SeededGenerator(seed: seed)
        for round in 0..<50 {
            let keys: [String?] = (0..<(1 + Int(g.next() % 200))).map { _ in g.next() % 5 == 0 ? nil : "k\(g.next() % 7)" }
            let b = storedBatch(keys)
            let broker = Broker(b, seed: g.next())
            let outcomes = PublishChains.run(b, send: broker.send, awaitOutcomes: broker.await, timedOut: .unavailable("timeout"))
            #expect(broker.violations.isEmpty, "seed \(seed), round \(round): \(broker.violations.prefix(3))")
            #expect(outcomes == Array(repeating: .published, count: b.count), "seed \(seed), round \(round)")
            #expect(broker.sent.sorted() == b.map(\.seq), "every message sent once")
        }
    }

    @Test func aFailureHoldsBackTheRestOfItsKeyOnly() {
        let b = storedBatch(["a", "a", "b", "a", "b", nil])
        let broker = Broker(b, seed: 7) { $0.seq == 1 ? .failed("broker said no") : .published }
        let outcomes = PublishChains.run(b, send: broker.send, awaitOutcomes: broker.await, timedOut: .unavailable("timeout"))
        #expect(!broker.sent.contains(2) && !broker.sent.contains(4), "the rest of key a is never sent after 1 failed: \(broker.sent)")
        #expect(outcomes[0] == .failed("broker said no"))
        guard case .failed = outcomes[1], case .failed = outcomes[3] else { Issue.record("\(outcomes)"); return }
        #expect(outcomes[2] == .published && outcomes[4] == .published && outcomes[5] == .published)
    }

    @Test func anOutageStopsWhatIsNotSentAndASilentBrokerTimesOut() {
        let b = storedBatch(["a", "a", "a", "b", "b"])
        let down = Broker(b, seed: 3) { $0.seq == 1 ? .unavailable("connection lost") : .published }
        let outcomes = PublishChains.run(b, send: down.send, awaitOutcomes: down.await, timedOut: .unavailable("timeout"))
        #expect(outcomes[0] == .unavailable("connection lost"))
        #expect(outcomes[1] == .unavailable("connection lost") && outcomes[2] == .unavailable("connection lost"))
        #expect(!down.sent.contains(2) && !down.sent.contains(3))

        // Nothing ever comes back: every message in flight times out, the rest is not sent.
        let silent = Broker(b, seed: 5) { _ in nil }
        var waits = 0
        let timedOut = PublishChains.run(b, send: silent.send, awaitOutcomes: { n in
            waits += 1
            _ = silent.await(n)
            return []
        }, timedOut: .unavailable("timeout"))
        #expect(timedOut == Array(repeating: .unavailable("timeout"), count: 5), "\(timedOut)")
        #expect(silent.sent.sorted() == [1, 4], "only the first of each key was sent")
        #expect(waits == 1)
    }
}
