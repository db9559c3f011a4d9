extension OutboxReader {
    /// Every dead letter of the outbox, oldest first (read-only, no lock).
    public func deadLetters() throws -> [DeadLetter] {
        try DeadLetterLog.list(in: directory, outboxID: outboxID)
    }
}

extension Outbox {
    /// Re-appends dead-lettered messages (all not yet redriven, or those of `seqs`) as one commit, with
    /// their ids, type, key, headers and payload unchanged, and marks them redriven. Returns the new
    /// sequence numbers, in the order of the dead letters.
    ///
    /// A crash between the append and the mark can redrive a message twice; consumers deduplicate by id.
    @discardableResult
    public func redrive(_ seqs: [UInt64]? = nil) async throws -> [UInt64] {
        let reader = try OutboxReader(path: path)
        let all = try reader.deadLetters()
        let wanted = seqs.map(Set.init)
        if let wanted {
            let known = Set(all.map(\.seq))
            if let missing = wanted.subtracting(known).sorted().first {
                throw OutboxError(.invalidArgument, "no dead letter for sequence number \(missing)", path: path)
            }
        }
        let chosen = all.filter { !$0.redriven && (wanted?.contains($0.seq) ?? true) }
        guard !chosen.isEmpty else { return [] }
        let range = try await append(contentsOf: chosen.map(\.message))
        let directory = reader.directory
        let marked = SequenceRangeSet(chosen.map(\.seq))
        let maxRecordSize = UInt32(self.maxRecordSize)
        let id = self.id
        try await onDedicatedThread("outbox-redrive") {
            try DeadLetterLog.markRedriven(marked, in: directory, outboxID: id, maxRecordSize: maxRecordSize)
        }
        return Array(range)
    }
}
