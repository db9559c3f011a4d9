extension OutboxInspector {
    /// Checks every header, frame, tombstone and invariant of the outbox at `path`: dense sequence
    /// numbers, every file of one outbox, tombstones only for sequence numbers that exist and for every
    /// number below the first segment, no frame out of place. Read-only; safe next to a running writer
    /// (whose commit in progress may show as a torn tail).
    /// With `keys`, encrypted frames are decrypted and their records checked too; without, their
    /// structure (FORMAT.md §10), and the report says what it could not check.
    public static func verify(path: String, keys: OutboxKeys? = nil) throws -> VerifyReport {
        let directory = try OutboxDirectory.open(path, create: false, sys: LinuxSystemCalls(), keys: keys)
        return try verify(directory)
    }

    /// ``verify(path:keys:)`` for an outbox opened already (its directory is not opened again; its files are
    /// judged afresh, the outbox's id included, since damage is what this looks for).
    public static func verify(_ outbox: OpenedOutbox) throws -> VerifyReport {
        try verify(outbox.directory)
    }

    package static func verify(_ directory: OutboxDirectory) throws -> VerifyReport {
        let listing = try FileNames.list(directory)
        guard !listing.segments.isEmpty else {
            throw OutboxError(.notAnOutbox, "not an outbox directory (no segment files)", path: directory.path)
        }
        let reference = ReferenceOutboxID.find(in: directory, listing)
        var report = VerifyReport()
        for name in listing.temporary {
            report.problems.append(VerifyProblem(file: name, offset: nil, kind: .leftoverFile, reason: "temporary file left by an interrupted create"))
        }
        var segments = SegmentFindings()
        var chain = SegmentChain(directory, outboxID: reference)
        try chain.list(listing.segments, reference: reference) { segments.take($0, into: &report) }
        report.lastSeq = (chain.next ?? 1) - 1
        checkEncryptedFrames(listing.segments, in: directory, into: &report)
        let snapshot = try checkTombstones(listing, in: directory, reference: reference, into: &report)
        // Numbers above the end of the log that other files name: messages lost (FORMAT.md §8), the same
        // judgement as the writer's open.
        if segments.lastSeqKnown, let reference, let active = listing.segments.last,
           let claim = NumberEvidence.above(report.lastSeq, in: directory, outboxID: reference, snapshot: snapshot ?? TombstoneSnapshot()) {
            let e = claim.error(last: report.lastSeq, segment: active.name, offset: segments.activeEnd)
            report.problems.append(VerifyProblem(file: active.name, offset: segments.activeEnd, kind: .numbersMissing, reason: e.message))
        }
        // Compaction removes only segments whose every number is finished: anything below the first
        // segment that is not tombstoned was in a segment that is missing (FORMAT.md §6).
        if let first = listing.segments.first, first.base > 1, let snapshot {
            let missing = snapshot.finished.firstMissing(from: 1)
            if missing < first.base {
                report.problems.append(VerifyProblem(
                    file: first.name, offset: 32, kind: .sequenceGap,
                    reason: "sequence number \(missing), below the first segment's base \(first.base), is not tombstoned: the segment that held it is missing"))
            }
        }
        for name in [DeadLetterLog.fileName, FileNames.dropped] where (try? directory.openFile(name, writable: false)) != nil {
            try checkOtherFile(name, in: directory, reference: reference, into: &report)
        }
        // The disk budget: a limits file append and stats cannot read is a problem verify names.
        do { _ = try DiskBudget.read(in: directory) } catch let e as OutboxError {
            report.problems.append(VerifyProblem(file: DiskBudget.fileName, offset: nil, kind: .corrupt, reason: e.message))
        }
        report.quarantined = QuarantinedFile.list(in: directory)
        return report
    }

    /// Encrypted segments (FORMAT.md §10): with the keys they name, every message frame is decrypted and
    /// its records decoded (one the right key does not authenticate is damage); without, the frames are
    /// counted as checked for structure only, with the ids of the keys they need. Damage the listing walk
    /// found is not looked at again.
    private static func checkEncryptedFrames(_ segments: [(base: UInt64, name: String)], in directory: OutboxDirectory, into report: inout VerifyReport) {
        for entry in segments {
            guard let segment = try? SegmentFile.open(entry.name, base: entry.base, in: directory), segment.header.encrypted else { continue }
            var (problems, notDecrypted, needed) = ([VerifyProblem](), 0, Set<String>())
            _ = try? segment.scanner.walk(tail: .stop) { frame in
                guard frame.header.kind.holdsMessages else { return true }
                do { _ = try segment.messages(in: frame) } catch let e as OutboxError where e.code == .missingKey || e.code == .wrongKey {
                    notDecrypted += 1
                    if let (_, id, _) = Envelope.peek(frame.body[Envelope.clearPrefix(frame.header.kind, frame.body)...]) { needed.insert("\(id)") }
                } catch let e as OutboxError {
                    problems.append(VerifyProblem(file: entry.name, offset: frame.offset, kind: .corrupt, reason: e.message))
                } catch {
                    problems.append(VerifyProblem(file: entry.name, offset: frame.offset, kind: .corrupt, reason: "\(error)"))
                }
                return true
            }
            report.problems += problems
            report.notDecrypted += notDecrypted
            report.keysNotGiven.formUnion(needed)
        }
    }

    /// Turns the findings of the segment chain's listing walk into verify's problems and counts.
    private struct SegmentFindings {
        private var raw: RawFileReport?
        private var isLast = false
        private var problemsBefore = 0
        /// Whether the log's last number is known (no segment of another outbox at its end).
        private(set) var lastSeqKnown = true
        /// Where the active segment's frames end.
        private(set) var activeEnd = Int64(FileHeader.size)

        mutating func take(_ finding: ChainFinding, into report: inout VerifyReport) {
            switch finding {
            case .segment(let raw, let base, let isLast, let nextBase):
                self.raw = raw
                self.isLast = isLast
                problemsBefore = report.problems.count
                report.files += 1
                report.segments += 1
                if isLast {
                    for case .frame(let offset, let length, _, _, _) in raw.entries { activeEnd = offset + length }
                }
                guard raw.belongsToAnotherOutbox else { return }
                OutboxInspector.headerProblem(raw, into: &report, detail: nextBase.map { $0 > base ? "; sequence numbers \(base)...\($0 - 1) are not served" : "" }
                                  ?? "; its sequence numbers from \(base) on are not served")
                lastSeqKnown = !isLast
            case .numbersBreak(let p):
                report.problems.append(VerifyProblem(file: raw?.name ?? "", offset: p.offset, kind: .sequenceGap, reason: p.reason))
            case .frame(let kind, let count):
                if kind.holdsMessages { report.messages += UInt64(count) }
            case .damage(let offset, let length, let reason, let canBeTorn, let atEnd):
                let torn = isLast && atEnd && canBeTorn
                let place = torn ? "at the end of the active segment"
                    : atEnd ? (isLast ? "at the end of the active segment, written whole: not a torn tail" : "at the end of a sealed segment")
                    : "before the next valid frame"
                report.problems.append(VerifyProblem(file: raw?.name ?? "", offset: offset, kind: torn ? .tornTail : .corrupt,
                                                     reason: "\(reason) (\(length) \(torn ? "" : "damaged ")bytes \(place))"))
            case .damageHeld(let numbers):
                report.problems[report.problems.count - 1].reason += "; it held sequence numbers \(numbers.lowerBound)...\(numbers.upperBound)"
            case .missingSeal(let offset, let reason):
                report.problems.append(VerifyProblem(file: raw?.name ?? "", offset: offset, kind: .corrupt, reason: reason))
            case .segmentDone:
                // A damaged header explains what follows in its frames: one problem, not several.
                guard let raw, !raw.belongsToAnotherOutbox, raw.headerProblem != nil else { return }
                let frameProblems = report.problems.count - problemsBefore
                report.problems.removeSubrange(problemsBefore...)
                OutboxInspector.headerProblem(raw, into: &report, detail: frameProblems > 0 ? "; its frames show \(frameProblems) more problem(s), which may follow from it" : "")
            }
        }
    }

    /// The tombstone files (the active one checked, older ones named as leftovers) and the snapshot of
    /// what is finished (nil when the tombstones cannot be read).
    private static func checkTombstones(_ listing: FileNames.Listing, in directory: OutboxDirectory, reference: OutboxID?,
                                        into report: inout VerifyReport) throws -> TombstoneSnapshot? {
        let dropped = reference.map { DroppedLog.readIntact(in: directory, outboxID: $0) } ?? SequenceRangeSet()
        guard let active = listing.tombstones.last else {
            var s = TombstoneSnapshot()
            s.dropped = dropped
            return s
        }
        for old in listing.tombstones.dropLast() {
            report.problems.append(VerifyProblem(file: old.name, offset: nil, kind: .leftoverFile,
                                                 reason: "superseded by \(active.name) (removed when a relay next opens the outbox)"))
        }
        try checkOtherFile(active.name, in: directory, reference: reference, into: &report)
        return reference.flatMap {
            try? TombstoneFile.load(active.name, generation: active.generation, in: directory, outboxID: $0, writable: false, tail: .stop).snapshot
        }.map { s in
            var s = s
            s.dropped = dropped
            return s
        }
    }

    fileprivate static func headerProblem(_ raw: RawFileReport, into report: inout VerifyReport, detail: String = "") {
        guard let problem = raw.headerProblem else { return }
        let kind: VerifyProblem.Kind = raw.belongsToAnotherOutbox ? .foreignOutbox
            : raw.headerProblemCode == .unsupportedVersion ? .unsupportedVersion : .badHeader
        report.problems.append(VerifyProblem(file: raw.name, offset: raw.headerProblemOffset, kind: kind, reason: problem + detail))
    }

    /// Tombstone and dead-letter files: header and frames.
    private static func checkOtherFile(_ name: String, in directory: OutboxDirectory, reference: OutboxID?,
                                       into report: inout VerifyReport) throws {
        let raw = try RawFileWalk.walk(name, in: directory, reference: reference, validateBodies: true)
        report.files += 1
        if raw.headerProblem != nil {
            headerProblem(raw, into: &report)
            return
        }
        for (j, item) in raw.entries.enumerated() {
            switch item {
            case .frame:
                continue
            case .damage(let offset, let length, let reason, _, let canBeTorn):
                let torn = j == raw.entries.count - 1 && canBeTorn
                report.problems.append(VerifyProblem(file: name, offset: offset, kind: torn ? .tornTail : .corrupt,
                                                     reason: "\(reason) (\(length) bytes)"))
            }
        }
    }
}
