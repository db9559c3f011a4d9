import Testing
@testable import Outbox

@Suite("Pipelined publishing in per-key rounds")
struct PublishRoundsTests {
    @Test func eachRoundHoldsTheNextMessageOfEveryKey() {
        let b = storedBatch(["a", "a", "b", nil, "a", "b", nil])
        var rounds: [[UInt64]] = []
        let outcomes = PublishRounds.run(b) { round in
            rounds.append(round.map(\.seq))
            return round.map { _ in .published }
        }
        #expect(rounds == [[1, 3, 4, 7], [2, 6], [5]])
        #expect(outcomes == Array(repeating: .published, count: 7))
    }

    @Test func aFailureHoldsBackTheRestOfItsKeyOnly() {
        let b = storedBatch(["a", "a", "b", "a", "b"])
        var sent: [UInt64] = []
        let outcomes = PublishRounds.run(b) { round in
            sent += round.map(\.seq)
            return round.map { $0.seq == 1 ? .failed("broker said no") : .published }
        }
        #expect(sent == [1, 3, 5], "messages 2 and 4 of key a are never sent after 1 failed")
        #expect(outcomes[0] == .failed("broker said no"))
        guard case .failed = outcomes[1], case .failed = outcomes[3] else { Issue.record("\(outcomes)"); return }
        #expect(outcomes[2] == .published && outcomes[4] == .published)
    }

    @Test func aRejectionAlsoHoldsBackItsKeyAndMissingOutcomesFail() {
        let b = storedBatch(["a", "a", nil])
        let outcomes = PublishRounds.run(b) { round in
            round.count == 2 ? [.rejected("too big")] : []
        }
        #expect(outcomes[0] == .rejected("too big"))
        guard case .failed = outcomes[1], case .failed(let why) = outcomes[2] else { Issue.record("\(outcomes)"); return }
        #expect(why.contains("no outcome"))
    }
}
