import Foundation

extension OutboxReader {
    /// The dead letters of the outbox, the latest of each sequence number, oldest first (read-only, no
    /// lock).
    public func deadLetters() throws -> [DeadLetter] {
        try DeadLetterLog.list(in: directory, outboxID: outboxID)
    }

    /// Sequence numbers tombstoned as dead that have no dead letter: messages `outbox verify --repair`
    /// could not read back (holes), whose content is gone.
    public func lostSequenceNumbers() throws -> SequenceRangeSet {
        let lettered = try deadLetters().map(\.seq).sorted()
        var lost = SequenceRangeSet()
        var i = 0
        for r in try tombstones().dead.ranges {
            var next = r.lowerBound
            while i < lettered.count && lettered[i] < r.lowerBound { i += 1 }
            while i < lettered.count && lettered[i] <= r.upperBound {
                if lettered[i] > next { lost.insert(next...(lettered[i] - 1)) }
                next = lettered[i] + 1
                i += 1
            }
            if next <= r.upperBound { lost.insert(next...r.upperBound) }
        }
        return lost
    }

    /// Asks the active relay to republish dead letters (all that are not redriven yet, or those of
    /// `seqs`) and returns the sequence numbers asked for. The request is a durable mark in the
    /// dead-letter file; it takes no outbox lock, so it works while a writer and a relay run. A relay
    /// that is running picks it up within a moment (inotify wakes it); otherwise the next relay to start
    /// does.
    ///
    /// **What the relay does:** it publishes each requested message with its original sequence number,
    /// id, type, key, headers and payload (so a consumer deduplicating by id sees a redelivery), then marks
    /// it redriven. A redriven message is published as soon as the relay takes the request, ahead of its
    /// key's messages still pending, and so after those of its key published since it died: per-key order
    /// is not kept for it. If it fails again it is dead-lettered again, with a new dead letter.
    ///
    /// With `route`, only the letters of that route (``DeadLetter/route``) are chosen; a request names
    /// sequence numbers, so a number another route also gave up on is republished there too.
    @discardableResult
    public func requestRedrive(_ seqs: [UInt64]? = nil, route: String? = nil) throws -> [UInt64] {
        let all = try deadLetters().filter { route == nil || $0.route == route }
        if let seqs {
            let known = Set(all.map(\.seq))
            if let missing = Set(seqs).subtracting(known).sorted().first {
                throw OutboxError(.invalidArgument, "no dead letter for sequence number \(missing)", path: path)
            }
        }
        let wanted = seqs.map(Set.init)
        let chosen = all.filter { !$0.redriven && (wanted?.contains($0.seq) ?? true) }.map(\.seq)
        guard !chosen.isEmpty else { return [] }
        let maxRecordSize = try DeadLetterLog.maxRecordSize(in: directory, outboxID: outboxID)
        try DeadLetterLog.mark(SequenceRangeSet(chosen), .redriveRequested, route: route, in: directory, outboxID: outboxID,
                               maxRecordSize: maxRecordSize)
        return chosen
    }
}
