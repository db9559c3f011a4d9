import Foundation

/// A file in the outbox's `quarantine/` directory (FORMAT.md §1a), as its record describes it.
public struct QuarantinedFile: Sendable, Equatable {
    /// Its name in `quarantine/` (the original name, or `NAME.N` when that was taken).
    public var name: String
    /// Why it was quarantined: the error that open or a reader met.
    public var reason: String
    /// The sequence numbers lost with it (held nowhere else), as `[a-b, c]`.
    public var lost: String
    /// When, in microseconds since the Unix epoch.
    public var quarantinedAtMicros: Int64?

    /// The quarantined files of the outbox at `directory`, by name (none when there is no `quarantine/`).
    static func list(in directory: OutboxDirectory) -> [QuarantinedFile] {
        let path = directory.pathOf(SegmentSalvage.quarantineDirectory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [] }
        return names.filter { !$0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map { name in
            let record = (try? Data(contentsOf: URL(fileURLWithPath: path + "/" + name + ".json")))
                .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
            return QuarantinedFile(name: name, reason: record["reason"] as? String ?? "(no record)", lost: record["lost"] as? String ?? "?",
                                   quarantinedAtMicros: (record["quarantinedAtMicros"] as? NSNumber)?.int64Value)
        }
    }
}
