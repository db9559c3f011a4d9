import Logging

/// The active tombstone file of an outbox, read back: its header, contents, and where the next frame
/// goes (FORMAT.md §1, §5).
///
/// The highest generation is the active file; a checkpoint writes generation g+1 holding the whole set
/// before generation g is removed, so older generations are leftovers of an interrupted checkpoint.
package struct TombstoneFile {
    let name: String
    let generation: UInt64
    let file: OutboxFile
    let header: FileHeader
    let snapshot: TombstoneSnapshot
    let end: Int64


    /// Loads the tombstone file of generation `generation`.
    package static func load(_ name: String, generation: UInt64, in directory: OutboxDirectory, outboxID: OutboxID,
                     writable: Bool, tail: RecoveryPolicy) throws -> TombstoneFile {
        let log = try LogFile.open(try directory.openFile(name, writable: writable), kind: .tombstones, base: generation,
                                   outboxID: outboxID)
        let (file, header, scanner) = (log.file, log.header, log.scanner)
        var snapshot = TombstoneSnapshot()
        let end = try tail.walk(scanner) { frame in
            snapshot.apply(frame)
            return true
        }
        return TombstoneFile(name: name, generation: generation, file: file, header: header, snapshot: snapshot, end: end)
    }

    /// Reads the current tombstones without any lock (a live reader): the highest generation, retrying
    /// if a checkpoint replaced it between listing and opening.
    /// The numbers the writer dropped (`dropped.log`) are folded in.
    static func read(in directory: OutboxDirectory, outboxID: OutboxID) throws -> (TombstoneSnapshot, TombstoneFile?) {
        let dropped = try DroppedLog.read(in: directory, outboxID: outboxID)
        return try FileNames.withListing(directory) { listing in
            guard let newest = listing.tombstones.last else {
                var s = TombstoneSnapshot()
                s.dropped = dropped
                return (s, nil)
            }
            let t = try load(newest.name, generation: newest.generation, in: directory, outboxID: outboxID,
                             writable: false, tail: .stop)
            var s = t.snapshot
            s.dropped = dropped
            return (s, t)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
