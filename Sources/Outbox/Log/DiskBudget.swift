import Foundation

/// The outbox's disk budget (FORMAT.md §1b): a cap on every byte it keeps on disk — segments, tombstone
/// files, the dead-letter file and quarantine — persisted in `limits.json`, so that every process (the
/// writer, the relay, `stats`) sees the same figure.
///
/// The writer refuses a commit that would take the usage past ``appendLimit``: the budget less a reserve
/// (``reserveBytes``) that only tombstones, checkpoints and dead letters may use, so that a full outbox
/// can always be drained and compacted.
package struct DiskBudget: Sendable, Equatable {
    /// The cap, in bytes.
    package var maxBytes: Int64
    /// What an append that does not fit does.
    package var onFull: FullPolicy = .reject

    /// `limits.json`.
    static let fileName = "limits.json"

    /// The room kept for the relay's tombstones, checkpoints and dead letters: 1/16 of the budget, at
    /// least 64 KiB.
    var reserveBytes: Int64 { max(64 << 10, maxBytes / 16) }

    /// Appends stop before the usage passes this.
    var appendLimit: Int64 { max(0, maxBytes - reserveBytes) }

    /// The segment size a budget allows: at most 1/16 of it (at least 64 KiB), so that compaction gives
    /// space back in small steps.
    func segmentSize(configured: Int) -> Int { min(configured, Int(max(64 << 10, maxBytes / 16))) }

    /// The budget `directory` holds, if any.
    static func read(in directory: OutboxDirectory) throws -> DiskBudget? {
        let path = directory.pathOf(fileName)
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: false) } catch let e as OutboxError where e.errno == ENOENT { return nil }
        let size = try file.size()
        struct Limits: Decodable {
            var maxDiskBytes: Int64
            var onFull: String?
        }
        // Read with a bound (it holds a few dozen bytes); the number must be a whole, positive count of bytes.
        guard size <= 4096, let limits = try? JSONDecoder().decode(Limits.self, from: Data(try file.read(at: 0, count: Int(size)))),
              limits.maxDiskBytes > 0, let onFull = FullPolicy(rawValue: limits.onFull ?? FullPolicy.reject.rawValue) else {
            throw OutboxError(.corrupt, "not a valid limits file (one JSON object: maxDiskBytes, a whole number of bytes above 0; "
                              + "onFull, reject or drop-oldest); `outbox verify --repair` sets it aside", path: path)
        }
        return DiskBudget(maxBytes: limits.maxDiskBytes, onFull: onFull)
    }

    /// Persists `budget` (nil removes it): a temporary file, fsync, rename, directory fsync.
    static func write(_ budget: DiskBudget?, in directory: OutboxDirectory) throws {
        guard let budget else {
            do { try directory.remove(fileName) } catch let e as OutboxError where e.errno == ENOENT { return }
            try directory.syncDirectory()
            return
        }
        let data = try JSONSerialization.data(withJSONObject: ["maxDiskBytes": budget.maxBytes, "onFull": budget.onFull.rawValue] as [String: Any],
                                              options: [.sortedKeys])
        _ = try directory.createFile(fileName, contents: [Array(data) + [0x0A]])
    }

    /// Every byte the outbox keeps on disk: segments, tombstone files, the dead-letter file, and
    /// everything in `quarantine/` (the accounting rule of FORMAT.md §1b).
    static func usage(of directory: OutboxDirectory) throws -> Int64 {
        let listing = try FileNames.list(directory)
        var total: Int64 = 0
        for name in listing.segments.map(\.name) + listing.tombstones.map(\.name) + [FileNames.deadLetters, FileNames.dropped] {
            if let f = try? directory.openFile(name, writable: false), let size = try? f.size() { total += size }
        }
        let quarantine = directory.pathOf(SegmentSalvage.quarantineDirectory)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: quarantine)) ?? [] {
            var st = stat()
            if lstat(quarantine + "/" + name, &st) == 0 { total += Int64(st.st_size) }
        }
        return total
    }
}
