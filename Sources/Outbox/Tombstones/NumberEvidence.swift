/// What the outbox's files other than its segments say about how far its sequence numbers went
/// (FORMAT.md §8): the writer's durable mark (`writer.durable`), the tombstones and the dropped ranges.
///
/// Numbers are never given twice. A log that ends below any of these lost messages that were made
/// durable (the mark), or finished (a tombstone or a dropped range names them): zeros or a cut where
/// their frames were. Giving their numbers to new messages would make those messages look finished, or
/// get them deduplicated away, so the one classifier calls it damage: the writer refuses to open (or,
/// under ``DamagePolicy/quarantine``, marks the numbers lost with a hole and goes on), and `verify`
/// reports it.
package struct NumberEvidence: Sendable, Equatable {
    /// The highest number the file names.
    package var seq: UInt64
    /// Which file, in words.
    package var source: String

    /// The highest claim above `last` (the last number the segments hold), if any: from the durable
    /// mark, and from `snapshot` (the tombstones with the dropped ranges; read from the directory when
    /// nil). A file that cannot be read is no evidence here: its own damage is found where it is read.
    package static func above(_ last: UInt64, in directory: OutboxDirectory, outboxID: OutboxID,
                              snapshot: TombstoneSnapshot? = nil) -> NumberEvidence? {
        var claims: [NumberEvidence] = []
        let mark = DurableMarkFile.read(in: directory, outboxID: outboxID)
        if mark > last { claims.append(NumberEvidence(seq: mark, source: "\(DurableMarkFile.fileName) (the writer's durable mark)")) }
        if let s = snapshot ?? (try? TombstoneFile.read(in: directory, outboxID: outboxID).0) {
            var finished = s.published
            finished.formUnion(s.dead)
            finished.formUnion(s.expired)
            if let top = finished.ranges.last?.upperBound, top > last { claims.append(NumberEvidence(seq: top, source: "the tombstones")) }
            if let top = s.dropped.ranges.last?.upperBound, top > last {
                claims.append(NumberEvidence(seq: top, source: "\(FileNames.dropped) (the dropped ranges)"))
            }
        }
        return claims.max { $0.seq < $1.seq }
    }

    /// The error for a log that ends at `last` below this claim, naming the active segment and where its
    /// frames end.
    package func error(last: UInt64, segment: String, offset: Int64) -> OutboxError {
        OutboxError(.corrupt, "the log ends at sequence number \(last), but \(source) names \(seq): messages \(last + 1)...\(seq) were "
                    + "made durable or finished and their frames are gone (zeroed or cut); their numbers are never given again",
                    path: segment, offset: offset)
    }
}
