/// Which outbox the files of a directory belong to (FORMAT.md §2): the outbox id that most of its files
/// with a valid header carry (segments, tombstone files, the dead-letter file); on a tie, the one of the
/// first segment with a valid header among the tied. A file whose valid header carries another id
/// belongs to another outbox: open, the readers, `verify` and `repair` all judge it by this one rule.
package enum ReferenceOutboxID {
    /// The reference id, or nil when no file has a valid header.
    static func find(in directory: OutboxDirectory, _ listing: FileNames.Listing) -> OutboxID? {
        var files: [(name: String, kind: FileHeader.Kind, base: UInt64)] = listing.segments.map { ($0.name, .segment, $0.base) }
        files += listing.tombstones.map { ($0.name, .tombstones, $0.generation) }
        files.append((FileNames.deadLetters, .deadLetters, 1))
        files.append((FileNames.dropped, .dropped, 1))
        var counts: [OutboxID: Int] = [:]
        var firstSegmentOrder: [OutboxID] = []
        for f in files {
            guard let file = try? directory.openFile(f.name, writable: false),
                  let header = try? LogFile.checkHeader(of: file, kind: f.kind, expectedBase: f.base, outboxID: nil) else { continue }
            counts[header.outboxID, default: 0] += 1
            if f.kind == .segment, !firstSegmentOrder.contains(header.outboxID) { firstSegmentOrder.append(header.outboxID) }
        }
        guard let most = counts.values.max() else { return nil }
        let tied = Set(counts.filter { $0.value == most }.keys)
        return firstSegmentOrder.first { tied.contains($0) } ?? tied.first
    }

    /// The outbox's id, from a fresh listing of `directory`.
    package static func find(in directory: OutboxDirectory) throws -> OutboxID? {
        find(in: directory, try FileNames.list(directory))
    }
}
