#if canImport(Glibc)
import Glibc
#endif

/// The names of the files of an outbox directory (FORMAT.md §1).
///
/// Only names of exactly these forms are ever opened; anything else in the directory is ignored.
package enum FileNames {
    static let segmentPrefix = "segment-"
    static let tombstonePrefix = "tombstones-"
    static let suffix = ".log"
    /// The dead-letter file (FORMAT.md §5a).
    package static let deadLetters = "dead-letters.log"
    /// The dropped-messages file (FORMAT.md §5b).
    package static let dropped = "dropped.log"
    /// The active relay's status (``RelayStatusFile``).
    package static let relayStatus = "relay-status.json"
    /// The ids of the encryption keys the outbox was written with, and which were retired (FORMAT.md §10e).
    package static let keyring = "keyring.json"
    /// Each route's uplink spend: `uplink-NAME.json` (FORMAT.md §1d).
    package static let uplinkPrefix = "uplink-"

    /// `segment-<base, 20 decimal digits>.log`
    package static func segment(_ base: UInt64) -> String { segmentPrefix + digits(base) + suffix }
    /// `tombstones-<generation, 20 decimal digits>.log`
    package static func tombstones(_ generation: UInt64) -> String { tombstonePrefix + digits(generation) + suffix }

    static func digits(_ n: UInt64) -> String { String(n).leftPadded(to: 20) }

    /// The base of a segment name, or nil if `name` is not one.
    package static func parseSegment(_ name: String) -> UInt64? { parse(name, prefix: segmentPrefix) }
    /// The generation of a tombstone file name, or nil if `name` is not one.
    static func parseTombstones(_ name: String) -> UInt64? { parse(name, prefix: tombstonePrefix) }

    private static func parse(_ name: String, prefix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard middle.count == 20, middle.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = UInt64(middle), n >= 1 else {
            return nil
        }
        return n
    }

    /// The outbox's files, as found in a directory listing, in order.
    struct Listing {
        var segments: [(base: UInt64, name: String)] = []
        var tombstones: [(generation: UInt64, name: String)] = []
        var temporary: [String] = []
    }

    static func list(_ directory: OutboxDirectory) throws -> Listing {
        var l = Listing()
        for name in try directory.list() {
            if let base = parseSegment(name) {
                l.segments.append((base, name))
            } else if let g = parseTombstones(name) {
                l.tombstones.append((g, name))
            } else if name.hasPrefix(OutboxDirectory.temporaryPrefix) {
                l.temporary.append(name)
            }
        }
        l.segments.sort { $0.base < $1.base }
        l.tombstones.sort { $0.generation < $1.generation }
        return l
    }
}

extension FileNames {
    /// Lists `directory` and runs `body` on the listing; when a file the listing named vanished before
    /// `body` could open it (`ENOENT`: a concurrent compaction or checkpoint removed it), lists again, up
    /// to 10 times. The one "file vanished, list again" loop of the readers.
    static func withListing<T>(_ directory: OutboxDirectory, _ body: (Listing) throws -> T) throws -> T {
        var attempts = 0
        while true {
            let listing = try list(directory)
            do { return try body(listing) } catch let e as OutboxError where e.errno == ENOENT && attempts < 10 {
                attempts += 1
            }
        }
    }
}
