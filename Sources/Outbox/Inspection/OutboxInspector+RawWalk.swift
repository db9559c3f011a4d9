extension OutboxInspector {
    /// Walks every frame of `path` (an outbox directory: each of its files; or one file), going on past
    /// damage by resynchronising on the next valid frame. Never changes anything.
    public static func rawWalk(path: String) throws -> [RawFileReport] {
        try rawWalk(path: path, sys: LinuxSystemCalls())
    }

    package static func rawWalk(path: String, sys: any SystemCalls) throws -> [RawFileReport] {
        if let directory = try? OutboxDirectory.open(path, create: false, sys: sys) {
            let listing = try FileNames.list(directory)
            var names = listing.segments.map(\.name) + listing.tombstones.map(\.name)
            for name in [DeadLetterLog.fileName, FileNames.dropped] where (try? directory.openFile(name, writable: false)) != nil { names.append(name) }
            guard !names.isEmpty else { throw OutboxError(.notAnOutbox, "not an outbox directory (no outbox files)", path: path) }
            let reference = ReferenceOutboxID.find(in: directory, listing)
            return try names.map { try RawFileWalk.walk($0, in: directory, reference: reference) }
        }
        let url = path.split(separator: "/", omittingEmptySubsequences: false)
        let name = String(url.last ?? "")
        let parent = url.count > 1 ? url.dropLast().joined(separator: "/") : "."
        let directory = try OutboxDirectory.openForInspection(parent.isEmpty ? "/" : parent, sys: sys)
        return [try RawFileWalk.walk(name, in: directory, reference: (try? FileNames.list(directory)).flatMap { ReferenceOutboxID.find(in: directory, $0) })]
    }
}
