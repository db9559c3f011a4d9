extension OutboxInspector {
    /// Checks every header, frame, tombstone and invariant of the outbox at `path`: dense sequence
    /// numbers, every file of one outbox, tombstones only for sequence numbers that exist and for every
    /// number below the first segment, no frame out of place. Read-only; safe next to a running writer
    /// (whose commit in progress may show as a torn tail).
    public static func verify(path: String) throws -> VerifyReport {
        let directory = try OutboxDirectory.open(path, create: false, sys: LinuxSystemCalls())
        return try verify(directory)
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
        var continuity = SequenceContinuity()
        var lastSeqKnown = true
        var activeEnd = Int64(FileHeader.size)  // where the active segment's frames end
        for (i, entry) in listing.segments.enumerated() {
            let isLast = i == listing.segments.count - 1
            let raw = try walkFile(entry.name, in: directory, reference: reference, validateBodies: true)
            report.files += 1
            report.segments += 1
            if raw.belongsToAnotherOutbox {
                let next = i + 1 < listing.segments.count ? listing.segments[i + 1].base : nil
                headerProblem(raw, into: &report, detail: next.map { $0 > entry.base ? "; sequence numbers \(entry.base)...\($0 - 1) are not served" : "" }
                                  ?? "; its sequence numbers from \(entry.base) on are not served")
                continuity.forget()
                lastSeqKnown = !isLast
                continue
            }
            let problemsBefore = report.problems.count
            if let p = continuity.segment(base: entry.base) {
                report.problems.append(VerifyProblem(file: entry.name, offset: p.offset, kind: .sequenceGap, reason: p.reason))
            }
            var afterDamage = false
            for (j, item) in raw.entries.enumerated() {
                switch item {
                case .frame(_, _, "seal", _, _):
                    // Holds no numbers. The raw walk checked it against the frames before it in its file, and
                    // reports a seal that disagrees as damage.
                    continue
                case .frame(let offset, _, let kind, let first, let count):
                    if afterDamage, let next = continuity.next, first > next, var last = report.problems.popLast() {
                        // The damaged bytes held the missing numbers: one problem, not two.
                        last.reason += "; it held sequence numbers \(next)...\(first - 1)"
                        report.problems.append(last)
                        continuity = SequenceContinuity(next: first)
                    }
                    if let p = continuity.frame(first: first, count: count, offset: offset) {
                        report.problems.append(VerifyProblem(file: entry.name, offset: p.offset, kind: .sequenceGap, reason: p.reason))
                    }
                    if kind == "messages" { report.messages += UInt64(count) }
                    afterDamage = false
                case .damage(let offset, let length, let reason, _, let canBeTorn):
                    afterDamage = true
                    let atEnd = j == raw.entries.count - 1
                    let torn = isLast && atEnd && canBeTorn
                    let place = torn ? "at the end of the active segment"
                        : atEnd ? (isLast ? "at the end of the active segment, written whole: not a torn tail" : "at the end of a sealed segment")
                        : "before the next valid frame"
                    report.problems.append(VerifyProblem(file: entry.name, offset: offset, kind: torn ? .tornTail : .corrupt,
                                                         reason: "\(reason) (\(length) \(torn ? "" : "damaged ")bytes \(place))"))
                }
            }
            if isLast {
                for case .frame(let offset, let length, _, _, _) in raw.entries { activeEnd = offset + length }
            }
            // A sealed segment of version 4 ends with its seal (FORMAT.md §3a): without one, bytes at its end
            // were lost, even if no number was (the same judgement as the writer's open).
            if !isLast, report.problems.count == problemsBefore, raw.headerProblem == nil, let version = raw.version,
               let problem = FrameContent.missingSeal(version) {
                var end = Int64(FileHeader.size)
                var sealed = false
                for case .frame(let offset, let length, let kind, _, _) in raw.entries {
                    end = offset + length
                    sealed = kind == "seal"
                }
                if !sealed { report.problems.append(VerifyProblem(file: entry.name, offset: end, kind: .corrupt, reason: problem)) }
            }
            // A damaged header explains what follows in its frames: one problem, not several.
            if raw.headerProblem != nil {
                let frameProblems = report.problems.count - problemsBefore
                report.problems.removeSubrange(problemsBefore...)
                headerProblem(raw, into: &report, detail: frameProblems > 0 ? "; its frames show \(frameProblems) more problem(s), which may follow from it" : "")
            }
        }
        report.lastSeq = (continuity.next ?? 1) - 1

        let snapshot: TombstoneSnapshot?
        if let active = listing.tombstones.last {
            for old in listing.tombstones.dropLast() {
                report.problems.append(VerifyProblem(file: old.name, offset: nil, kind: .leftoverFile,
                                                     reason: "superseded by \(active.name) (removed when a relay next opens the outbox)"))
            }
            try checkOtherFile(active.name, in: directory, reference: reference, into: &report)
            snapshot = reference.flatMap {
                try? TombstoneFile.load(active.name, generation: active.generation, in: directory, outboxID: $0, writable: false, tail: .stop).snapshot
            }.map { s in
                var s = s
                s.dropped = reference.map { DroppedLog.readIntact(in: directory, outboxID: $0) } ?? SequenceRangeSet()
                return s
            }
        } else {
            var s = TombstoneSnapshot()
            s.dropped = reference.map { DroppedLog.readIntact(in: directory, outboxID: $0) } ?? SequenceRangeSet()
            snapshot = s
        }
        // Numbers above the end of the log that other files name: messages lost (FORMAT.md §8), the same
        // judgement as the writer's open.
        if lastSeqKnown, let reference, let active = listing.segments.last,
           let claim = NumberEvidence.above(report.lastSeq, in: directory, outboxID: reference, snapshot: snapshot ?? TombstoneSnapshot()) {
            let e = claim.error(last: report.lastSeq, segment: active.name, offset: activeEnd)
            report.problems.append(VerifyProblem(file: active.name, offset: activeEnd, kind: .numbersMissing, reason: e.message))
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

    private static func headerProblem(_ raw: RawFileReport, into report: inout VerifyReport, detail: String = "") {
        guard let problem = raw.headerProblem else { return }
        let kind: VerifyProblem.Kind = raw.belongsToAnotherOutbox ? .foreignOutbox
            : problem.contains("unsupported format version") ? .unsupportedVersion : .badHeader
        report.problems.append(VerifyProblem(file: raw.name, offset: raw.headerProblemOffset, kind: kind, reason: problem + detail))
    }

    /// Tombstone and dead-letter files: header and frames.
    private static func checkOtherFile(_ name: String, in directory: OutboxDirectory, reference: OutboxID?,
                                       into report: inout VerifyReport) throws {
        let raw = try walkFile(name, in: directory, reference: reference, validateBodies: true)
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
