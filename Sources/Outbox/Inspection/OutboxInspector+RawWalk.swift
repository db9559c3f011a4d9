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
            if (try? directory.openFile(DeadLetterLog.fileName, writable: false)) != nil { names.append(DeadLetterLog.fileName) }
            guard !names.isEmpty else { throw OutboxError(.notAnOutbox, "not an outbox directory (no outbox files)", path: path) }
            return try names.map { try walkFile($0, in: directory) }
        }
        let url = path.split(separator: "/", omittingEmptySubsequences: false)
        let name = String(url.last ?? "")
        let parent = url.count > 1 ? url.dropLast().joined(separator: "/") : "."
        let directory = try OutboxDirectory.openForInspection(parent.isEmpty ? "/" : parent, sys: sys)
        return [try walkFile(name, in: directory)]
    }

    /// The kind, expected base and identity of a file, from its name, its header, or its siblings.
    static func describe(_ name: String, _ file: OutboxFile, in directory: OutboxDirectory)
        -> (kind: FileHeader.Kind?, header: Result<FileHeader, OutboxError>, identity: FileIdentity?) {
        let magic = (try? file.read(at: 0, count: 8)) ?? []
        var kind: FileHeader.Kind?
        var base: UInt64?
        if let b = FileNames.parseSegment(name) { kind = .segment; base = b }
        else if let g = FileNames.parseTombstones(name) { kind = .tombstones; base = g }
        else if name == DeadLetterLog.fileName { kind = .deadLetters; base = 1 }
        else { kind = [FileHeader.Kind.segment, .tombstones, .deadLetters].first { $0.magic == magic } }
        guard let kind else {
            return (nil, .failure(OutboxError(.notAnOutbox, "not an outbox file (unknown name and magic)", path: file.path)), nil)
        }
        let header = Result { try LogFile.checkHeader(of: file, kind: kind, expectedBase: base ?? 0, outboxID: nil) }
            .mapError { $0 as? OutboxError ?? OutboxError(.io, "\($0)") }
        if case .success(let h) = header { return (kind, header, FileIdentity(outboxID: h.outboxID, base: h.base)) }
        // The header is damaged: the outbox id may still come from a sibling file, the base from the name.
        if let base, let id = siblingOutboxID(in: directory, except: name) {
            return (kind, header, FileIdentity(outboxID: id, base: base))
        }
        if base == nil, let h = try? FileHeader.decode(file.read(at: 0, count: FileHeader.size), expecting: kind) {
            return (kind, .success(h), FileIdentity(outboxID: h.outboxID, base: h.base))
        }
        return (kind, header, nil)
    }

    /// The outbox id written in the header of any other valid file of the directory.
    static func siblingOutboxID(in directory: OutboxDirectory, except: String) -> OutboxID? {
        guard let listing = try? FileNames.list(directory) else { return nil }
        for (name, kind, base) in listing.segments.map({ ($0.name, FileHeader.Kind.segment, $0.base) })
            + listing.tombstones.map({ ($0.name, FileHeader.Kind.tombstones, $0.generation) }) where name != except {
            if let f = try? directory.openFile(name, writable: false),
               let h = try? LogFile.checkHeader(of: f, kind: kind, expectedBase: base, outboxID: nil) {
                return h.outboxID
            }
        }
        return nil
    }

    static func walkFile(_ name: String, in directory: OutboxDirectory, validateBodies: Bool = false) throws -> RawFileReport {
        let file = try directory.openFile(name, writable: false)
        let size = try file.size()
        let (kind, header, identity) = describe(name, file, in: directory)
        var report = RawFileReport(path: file.path, name: name, kind: kind?.noun ?? "unknown", size: size, header: nil,
                                   headerProblem: nil, headerProblemOffset: nil, entries: [])
        switch header {
        case .success(let h):
            report.header = "outbox \(h.outboxID), base \(h.base), max record size \(h.maxRecordSize), created \(h.createdAtMicros) µs"
        case .failure(let e):
            report.headerProblem = e.message
            report.headerProblemOffset = e.offset
        }
        guard let kind, let identity else {
            if size > 0 {
                let excerpt = (try? file.read(at: 0, count: 32)) ?? []
                report.entries = [.damage(offset: 0, length: size, reason: "cannot check frames: the file's identity is unknown", excerpt: excerpt)]
            }
            return report
        }
        let maxBody = (try? header.get().maxRecordSize) ?? OutboxConfiguration.maxRecordSizeLimit
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxBody, kinds: FrameContent.kinds(in: kind), size: size,
                                   validate: { h, body in validateBodies ? FrameContent.problem(h, body, maxBody: maxBody) : nil })
        while true {
            switch try scanner.next() {
            case .end:
                return report
            case .frame(let f):
                report.entries.append(.frame(offset: f.offset, length: f.end - f.offset, kind: FrameContent.kindName(f.header.kind),
                                             first: f.header.first, count: f.header.count))
            case .damage(let d):
                let next = try scanner.nextValidFrame(after: d.offset)
                let end = next ?? size
                let excerpt = try file.read(at: d.offset, count: Int(min(32, end - d.offset)))
                report.entries.append(.damage(offset: d.offset, length: end - d.offset, reason: d.reason, excerpt: excerpt))
                guard let next else { return report }
                scanner.offset = next
            }
        }
    }
}
