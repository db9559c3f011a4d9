extension OutboxInspector {
    /// Checks every header, frame, tombstone and invariant of the outbox at `path`: dense sequence
    /// numbers, tombstones only for sequence numbers that exist, no frame out of place. Read-only; safe
    /// next to a running writer (whose commit in progress may show as a torn tail).
    public static func verify(path: String) throws -> VerifyReport {
        let directory = try OutboxDirectory.open(path, create: false, sys: LinuxSystemCalls())
        return try verify(directory)
    }

    package static func verify(_ directory: OutboxDirectory) throws -> VerifyReport {
        let listing = try FileNames.list(directory)
        guard !listing.segments.isEmpty else {
            throw OutboxError(.notAnOutbox, "not an outbox directory (no segment files)", path: directory.path)
        }
        var report = VerifyReport()
        for name in listing.temporary {
            report.problems.append(VerifyProblem(file: name, offset: nil, kind: .leftoverFile, reason: "temporary file left by an interrupted create"))
        }
        var expected: UInt64?
        for (i, entry) in listing.segments.enumerated() {
            let isLast = i == listing.segments.count - 1
            let raw = try walkFile(entry.name, in: directory, validateBodies: true)
            report.files += 1
            report.segments += 1
            headerProblem(raw, into: &report)
            if let e = expected, entry.base != e {
                report.problems.append(VerifyProblem(
                    file: entry.name, offset: 32, kind: .sequenceGap,
                    reason: entry.base > e ? "sequence numbers \(e)...\(entry.base - 1) are missing before this segment"
                                           : "this segment starts at \(entry.base) but the previous one ends at \(e - 1)"))
            }
            var next = entry.base
            var afterDamage = false
            for (j, item) in raw.entries.enumerated() {
                switch item {
                case .frame(let offset, _, let kind, let first, let count):
                    if afterDamage, first > next, var last = report.problems.popLast() {
                        last.reason += "; it held sequence numbers \(next)...\(first - 1)"
                        report.problems.append(last)
                    } else if first != next {
                        report.problems.append(VerifyProblem(
                            file: entry.name, offset: offset, kind: .sequenceGap,
                            reason: first > next ? "sequence numbers \(next)...\(first - 1) are missing before this frame"
                                                 : "frame starts at \(first), expected \(next)"))
                    }
                    if kind == "messages" { report.messages += UInt64(count) }
                    next = first + UInt64(count)
                    afterDamage = false
                case .damage(let offset, let length, let reason, _):
                    afterDamage = true
                    let torn = isLast && j == raw.entries.count - 1
                    report.problems.append(VerifyProblem(
                        file: entry.name, offset: offset, kind: torn ? .tornTail : .corrupt,
                        reason: torn ? "\(reason) (\(length) bytes at the end of the active segment)"
                                     : "\(reason) (\(length) damaged bytes\(j == raw.entries.count - 1 ? " at the end of a sealed segment" : " before the next valid frame"))"))
                }
            }
            expected = next
        }
        report.lastSeq = (expected ?? 1) - 1

        if let active = listing.tombstones.last {
            for old in listing.tombstones.dropLast() {
                report.problems.append(VerifyProblem(file: old.name, offset: nil, kind: .leftoverFile,
                                                     reason: "superseded by \(active.name) (removed when a relay next opens the outbox)"))
            }
            try checkOtherFile(active.name, in: directory, into: &report)
            if let id = siblingOutboxID(in: directory, except: active.name),
               let t = try? TombstoneFile.load(active.name, generation: active.generation, in: directory, outboxID: id,
                                               writable: false, tail: .stop),
               let beyond = t.snapshot.finished.ranges.last, beyond.upperBound > report.lastSeq {
                report.problems.append(VerifyProblem(
                    file: active.name, offset: nil, kind: .unknownTombstone,
                    reason: "tombstones for \(max(beyond.lowerBound, report.lastSeq + 1))...\(beyond.upperBound), beyond the last committed sequence number \(report.lastSeq)"))
            }
        }
        if (try? directory.openFile(DeadLetterLog.fileName, writable: false)) != nil {
            try checkOtherFile(DeadLetterLog.fileName, in: directory, into: &report)
        }
        return report
    }

    private static func headerProblem(_ raw: RawFileReport, into report: inout VerifyReport) {
        guard let problem = raw.headerProblem else { return }
        let unsupported = problem.contains("unsupported format version")
        report.problems.append(VerifyProblem(file: raw.name, offset: raw.headerProblemOffset,
                                             kind: unsupported ? .unsupportedVersion : .badHeader, reason: problem))
    }

    /// Tombstone and dead-letter files: header and frames.
    private static func checkOtherFile(_ name: String, in directory: OutboxDirectory, into report: inout VerifyReport) throws {
        let raw = try walkFile(name, in: directory, validateBodies: true)
        report.files += 1
        headerProblem(raw, into: &report)
        for (j, item) in raw.entries.enumerated() {
            switch item {
            case .frame:
                continue
            case .damage(let offset, let length, let reason, _):
                let torn = j == raw.entries.count - 1
                report.problems.append(VerifyProblem(file: name, offset: offset, kind: torn ? .tornTail : .corrupt,
                                                     reason: "\(reason) (\(length) bytes)"))
            }
        }
    }
}
