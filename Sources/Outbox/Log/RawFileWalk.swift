/// The raw walk of one outbox file: every frame and every damaged span, going on past damage by
/// resynchronising on the next valid frame (``FrameWalk``), its header checked against the outbox's
/// reference id. Never changes anything. `dump --raw` prints it; `verify` judges the segment chain from
/// it (``SegmentChain``).
enum RawFileWalk {
    /// The kind, expected base and identity of a file, from its name, its header, or the outbox's
    /// reference id (``ReferenceOutboxID``); `foreign` when its valid header names another outbox (its
    /// frames are then not checked: they cannot be told apart from the other outbox's).
    static func describe(_ name: String, _ file: OutboxFile, in directory: OutboxDirectory, reference: OutboxID?)
        -> (kind: FileHeader.Kind?, header: Result<FileHeader, OutboxError>, identity: FileIdentity?, foreign: Bool) {
        let magic = (try? file.read(at: 0, count: 8)) ?? []
        var kind: FileHeader.Kind?
        var base: UInt64?
        if let b = FileNames.parseSegment(name) { kind = .segment; base = b }
        else if let g = FileNames.parseTombstones(name) { kind = .tombstones; base = g }
        else if name == FileNames.deadLetters { kind = .deadLetters; base = 1 }
        else if name == FileNames.dropped { kind = .dropped; base = 1 }
        else { kind = [FileHeader.Kind.segment, .tombstones, .deadLetters, .dropped].first { $0.magic == magic } }
        guard let kind else {
            return (nil, .failure(OutboxError(.notAnOutbox, "not an outbox file (unknown name and magic)", path: file.path)), nil, false)
        }
        let header = Result { try LogFile.checkHeader(of: file, kind: kind, expectedBase: base ?? 0, outboxID: nil) }
            .mapError { $0 as? OutboxError ?? OutboxError(.io, "\($0)") }
        if case .success(let h) = header {
            if let reference, h.outboxID != reference {
                let problem = OutboxError(.corrupt, "file belongs to another outbox (id \(h.outboxID); this outbox's files carry \(reference))",
                                          path: file.path, offset: 16)
                return (kind, .failure(problem), nil, true)
            }
            return (kind, header, FileIdentity(outboxID: h.outboxID, base: h.base), false)
        }
        // The header is damaged: the outbox id may still come from the other files, the base from the name.
        if let base, let reference { return (kind, header, FileIdentity(outboxID: reference, base: base), false) }
        // No other file names the outbox: the id field of the damaged header is the best guess, which
        // the frames then confirm (each frame's checksum covers the id) or refute.
        if let base, let bytes = try? file.read(at: 16, count: 16), bytes.count == 16 {
            return (kind, header, FileIdentity(outboxID: OutboxID(bytes: bytes), base: base), false)
        }
        if base == nil, let h = try? FileHeader.decode(file.read(at: 0, count: FileHeader.size), expecting: kind) {
            return (kind, .success(h), FileIdentity(outboxID: h.outboxID, base: h.base), false)
        }
        return (kind, header, nil, false)
    }

    static func walk(_ name: String, in directory: OutboxDirectory, reference: OutboxID?, validateBodies: Bool = false) throws -> RawFileReport {
        let file = try directory.openFile(name, writable: false)
        let size = try file.size()
        let (kind, header, identity, foreign) = describe(name, file, in: directory, reference: reference)
        var report = RawFileReport(path: file.path, name: name, kind: kind?.noun ?? "unknown", size: size, header: nil,
                                   headerProblem: nil, headerProblemOffset: nil, entries: [], belongsToAnotherOutbox: foreign)
        if foreign, case .failure(let e) = header {
            report.headerProblem = e.message
            report.headerProblemOffset = e.offset
            report.headerProblemCode = e.code
            return report
        }
        switch header {
        case .success(let h):
            report.header = "outbox \(h.outboxID), base \(h.base), max record size \(h.maxRecordSize), created \(h.createdAtMicros) µs"
            report.version = h.version
        case .failure(let e):
            report.headerProblem = e.message
            report.headerProblemOffset = e.offset
            report.headerProblemCode = e.code
        }
        guard let kind, let identity else {
            if size > 0 {
                let excerpt = (try? file.read(at: 0, count: 32)) ?? []
                report.append(.damage(offset: 0, length: size, reason: "cannot check frames: the file's identity is unknown", excerpt: excerpt,
                                      canBeTorn: false))
            }
            return report
        }
        let maxBody = (try? header.get().maxRecordSize) ?? OutboxConfiguration.maxRecordSizeLimit
        let version = (try? header.get().version) ?? FileHeader.currentVersion
        let encrypted = (try? header.get().encrypted) ?? SegmentSalvage.guessedEncrypted(file)
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxBody, version: version, kinds: FrameContent.kinds(in: kind, version: version), size: size,
                                   validate: { h, body in validateBodies ? FrameContent.problem(h, body, in: kind, version: version, encrypted: encrypted, maxBody: maxBody) : nil })
        scanner.returnsSeal = true
        try walkFrames(scanner, file: file, checkingSealFrom: kind == .segment ? (try? header.get())?.base : nil, into: &report)
        return report
    }

    /// Lists every frame and every damaged span from the scanner's offset to the end of the file. A seal
    /// must agree with the frames before it in its file (FORMAT.md §3a), from the segment's `base` on;
    /// once damage or a break in the numbers was found, that is reported already.
    private static func walkFrames(_ scanner: FrameScanner, file: OutboxFile, checkingSealFrom base: UInt64?,
                                   into report: inout RawFileReport) throws {
        var continuity = SequenceContinuity()
        var broken = base == nil
        if let base { _ = continuity.segment(base: base) }
        var walk = FrameWalk(scanner)
        func damage(_ d: FrameDamage, to end: Int64, reason: String? = nil, canBeTorn: Bool) throws {
            let excerpt = try file.read(at: d.offset, count: Int(min(32, end - d.offset)))
            report.append(.damage(offset: d.offset, length: end - d.offset, reason: reason ?? d.reason, excerpt: excerpt,
                                          canBeTorn: canBeTorn))
        }
        while true {
            switch try walk.next() {
            case .end(let zerosFrom):
                if let zerosFrom { report.preallocatedBytes = report.size - zerosFrom }
                return
            case .frame(let f) where f.header.kind == .seal:
                if !broken, let p = continuity.seal(Seal(f)) {
                    report.append(.damage(offset: f.offset, length: f.end - f.offset, reason: p.reason,
                                                  excerpt: Array(f.body.prefix(32)), canBeTorn: false))
                } else {
                    report.append(.frame(offset: f.offset, length: f.end - f.offset, kind: FrameContent.kindName(f.header.kind),
                                         first: f.header.first, count: f.header.count), kind: f.header.kind)
                }
            case .frame(let f):
                if continuity.frame(first: f.header.first, count: f.header.count, offset: f.offset,
                                    lanes: LaneSummary.filter(kind: f.header.kind, body: f.body)) != nil { broken = true }
                report.append(.frame(offset: f.offset, length: f.end - f.offset, kind: FrameContent.kindName(f.header.kind),
                                     first: f.header.first, count: f.header.count), kind: f.header.kind)
            case .tornLastWrite(let d):
                // The frames after the damage are of the last write, cut short: the whole of it, to the end
                // of the file, is one torn tail (FORMAT.md §7).
                try damage(d, to: report.size, canBeTorn: true)
                return
            case .damageAtEnd(let d):
                try damage(d, to: report.size, canBeTorn: d.canBeTorn)
                return
            case .corrupt(let d, let resume):
                broken = true
                try damage(d, to: resume, canBeTorn: d.canBeTorn)
                scanner.offset = resume
            }
        }
    }
}
