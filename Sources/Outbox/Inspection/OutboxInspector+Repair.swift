import Foundation
import Logging

extension OutboxInspector {
    /// Repairs what ``verify(path:keys:)`` finds, never deleting a byte it has not kept: every file it changes
    /// is first kept whole as `NAME.broken` (a torn tail is cut from the copy it writes, not from the
    /// original); a damaged segment, tombstone or dead-letter file is replaced by a copy holding every
    /// valid frame, with *hole* frames (FORMAT.md §4a) standing for the sequence numbers that were lost,
    /// which are tombstoned as dead; a missing segment becomes a hole. A file whose valid header names
    /// another outbox is moved aside intact as `NAME.foreign` (its numbers become a hole), unless its
    /// frames are this outbox's (only its header is wrong): then it is rebuilt with this outbox's id and
    /// nothing is lost.
    ///
    /// ``RepairReport/remaining`` is empty only when verification then finds nothing and the outbox opens
    /// for reading (`dump`), for appending and for relaying. Refuses while a writer or a relay holds the
    /// outbox, and refuses files of an unknown format version.
    /// An encrypted file's frames are sealed again where they move (FORMAT.md §10), which needs `keys`:
    /// without them such a file is left as it is and the repair throws ``OutboxError/Code/missingKey``.
    public static func repair(path: String, keys: OutboxKeys? = nil, logger: Logger = Logger(label: "outbox.repair")) async throws -> RepairReport {
        let sys = LinuxSystemCalls()
        let (directory, writerLock, repaired, holes) = try await onDedicatedThread("outbox-repair") {
            let directory = try OutboxDirectory.open(path, create: false, sys: sys, keys: keys)
            let writerLock = try lockFor("repair", FileLock.writerLockName, in: directory, role: "writing")
            do {
                let (report, holes) = try repairFiles(directory)
                return (directory, UnsafeTransfer(writerLock), report, holes)
            } catch {
                writerLock.release()
                throw error
            }
        }
        defer { writerLock.value.release() }
        var result = repaired
        if !holes.isEmpty {
            let log = try await onDedicatedThread("outbox-repair") {
                try TombstoneLog(openingAt: path, checkpointBytes: 1 << 20, logger: logger, sys: sys)
            }
            do {
                try await log.acknowledge(holes.ranges.flatMap { Array($0) }, as: .dead)
            } catch {
                try? await log.close()
                throw error
            }
            try await log.close()
            result.actions.append("tombstoned the \(holes.count) lost sequence number(s) as dead")
        }
        result.remaining = try await onDedicatedThread("outbox-repair") {
            var remaining = try verify(directory).problems.filter { $0.kind != .leftoverFile }
            if remaining.isEmpty, let (file, failure) = trialOpen(directory, logger: logger) {
                remaining.append(VerifyProblem(file: file, offset: failure.offset,
                                               kind: .corrupt, reason: "the outbox still does not open after repair: \(failure.message)"))
            }
            return remaining
        }
        for a in result.actions { logger.info("\(a)") }
        return result
    }

    /// The file work of a repair (the caller holds the writer lock): returns what was done and the
    /// sequence numbers lost to damage.
    private static func repairFiles(_ directory: OutboxDirectory) throws -> (RepairReport, SequenceRangeSet) {
        let relayLock = try lockFor("repair", FileLock.relayLockName, in: directory, role: "relaying")
        defer { relayLock.release() }
        let report = try verify(directory)
        if let p = report.problems.first(where: { $0.kind == .unsupportedVersion }) {
            throw OutboxError(.unsupportedVersion, "cannot repair: \(p.reason)", path: directory.pathOf(p.file))
        }
        let listing = try FileNames.list(directory)
        let reference = ReferenceOutboxID.find(in: directory, listing)
        var work = RepairWork()
        // The tombstone, dead-letter and dropped files first: what they record decides which numbers
        // below the first segment are finished (dropped ones are not lost, issue 25, item 12).
        try repairOtherFiles(report, in: directory, reference: reference, into: &work)
        let tombstoned: TombstoneSnapshot? = reference.map { id in
            var s = (try? TombstoneFile.read(in: directory, outboxID: id).0) ?? TombstoneSnapshot()
            s.dropped = DroppedLog.readIntact(in: directory, outboxID: id)
            return s
        }
        try repairSegments(report, listing.segments, tombstoned: tombstoned, in: directory, into: &work)
        // Numbers the durable mark, the tombstones or the dropped ranges name above the end of the log
        // (FORMAT.md §8), judged once the files are repaired: a hole after the active segment's frames
        // gives them, so that they are lost, and never given again.
        let repaired = try verify(directory)
        if let missing = repaired.problems.first(where: { $0.kind == .numbersMissing }), let end = missing.offset, let reference,
           let claim = NumberEvidence.above(repaired.lastSeq, in: directory, outboxID: reference) {
            let lost = (repaired.lastSeq + 1)...claim.seq
            work.actions.append(try SegmentSalvage.appendHole(lost, to: missing.file, at: end, note: "missing from the log; \(claim.source) names them",
                                                              in: directory))
            work.holes.insert(lost)
        }
        var result = RepairReport()
        result.actions = work.actions
        return (result, work.holes)
    }

    /// What a repair did so far, and the numbers it found lost.
    private struct RepairWork {
        var actions: [String] = []
        var holes = SequenceRangeSet()
    }

    /// The tombstone, dead-letter and dropped files, and a `limits.json` that cannot be read.
    private static func repairOtherFiles(_ report: VerifyReport, in directory: OutboxDirectory, reference: OutboxID?,
                                         into work: inout RepairWork) throws {
        for p in report.problems where p.file.hasPrefix(FileNames.tombstonePrefix) || p.file == DeadLetterLog.fileName || p.file == FileNames.dropped {
            switch p.kind {
            case .tornTail:
                if let offset = p.offset { work.actions.append(try truncate(p.file, at: offset, in: directory)) }
            case .corrupt, .badHeader:
                work.actions.append(try rebuildOther(p.file, in: directory, reference: reference))
            case .foreignOutbox:
                let keptAs = try moveAside(p.file, in: directory)
                work.actions.append("moved \(p.file), a file of another outbox, aside intact as \(keptAs)"
                                    + (p.file == DeadLetterLog.fileName ? "" : "; messages whose tombstones it held will be published again"))
            default:
                continue
            }
        }
        if report.problems.contains(where: { $0.file == DiskBudget.fileName }) {
            let keptAs = SegmentSalvage.unusedName(DiskBudget.fileName + ".broken", in: directory)
            try directory.rename(DiskBudget.fileName, to: keptAs)
            try directory.syncDirectory()
            work.actions.append("set the invalid \(DiskBudget.fileName) aside as \(keptAs): the outbox has no disk budget now "
                                + "(set one with `outbox append DIR --count 0 --max-disk SIZE`)")
        }
    }

    /// Damaged and foreign segments salvaged, torn tails cut, numbers below the first segment that no
    /// file finishes and missing segments turned into holes.
    private static func repairSegments(_ report: VerifyReport, _ segments: [(base: UInt64, name: String)], tombstoned: TombstoneSnapshot?,
                                       in directory: OutboxDirectory, into work: inout RepairWork) throws {
        let foreign = Set(report.problems.filter { $0.kind == .foreignOutbox }.map(\.file))
        let damagedFiles = Set(report.problems.filter { [.corrupt, .badHeader].contains($0.kind) || ($0.kind == .sequenceGap && $0.offset != 32) }.map(\.file))
        for entry in segments {
            if foreign.contains(entry.name) || damagedFiles.contains(entry.name) {
                let (action, lost) = try SegmentSalvage.salvage(entry.name, in: directory, keep: .beside,
                                                                highestTombstoned: tombstoned?.finished.ranges.last?.upperBound)
                work.holes.formUnion(lost)
                work.actions.append(action)
            } else if let torn = report.problems.first(where: { $0.file == entry.name && $0.kind == .tornTail }), let offset = torn.offset {
                work.actions.append(try truncate(entry.name, at: offset, in: directory))
            }
        }
        // Numbers below the first segment that no file finishes (judged with the tombstone and dropped
        // files as repaired, not as verify found them: a foreign or damaged tombstone file hid them) were
        // in a segment that is missing: they are lost, and tombstoned as such.
        if let first = segments.first, first.base > 1 {
            var below = SequenceRangeSet()
            below.insert(1...(first.base - 1))
            let lost = below.subtracting(tombstoned?.finished ?? SequenceRangeSet())
            if !lost.isEmpty {
                work.holes.formUnion(lost)
                work.actions.append("sequence numbers \(lost), below the first segment and not tombstoned, were in a missing segment: they are lost")
            }
        }
        for p in report.problems where p.kind == .sequenceGap && p.offset == 32 {
            guard let base = FileNames.parseSegment(p.file), let i = segments.firstIndex(where: { $0.base == base }), i > 0 else { continue }
            // A missing segment: a segment holding only a hole keeps the numbering dense.
            guard !foreign.contains(segments[i - 1].name) else { continue }  // that one's hole covers it
            guard let (action, lost) = try SegmentSalvage.fillGap(after: segments[i - 1], before: base, in: directory) else { continue }
            work.holes.formUnion(lost)
            work.actions.append(action)
        }
    }

    /// Renames `name` to `NAME.foreign` (or `.foreign.N`), durably; the new name.
    private static func moveAside(_ name: String, in directory: OutboxDirectory) throws -> String {
        let keptAs = SegmentSalvage.unusedName(name + ".foreign", in: directory)
        try directory.rename(name, to: keptAs)
        try directory.syncDirectory()
        return keptAs
    }

    /// After a repair: the outbox opens as `dump`, `append` and the relay open it; the first failure, and
    /// the file each step names (a damaged segment is named by the walk's reporter).
    private static func trialOpen(_ directory: OutboxDirectory, logger: Logger) -> (file: String, error: OutboxError)? {
        let listing = try? FileNames.list(directory)
        var file = listing?.segments.last?.name ?? ""
        do {
            let opened = try OpenedOutbox(path: directory.path)
            var chain = SegmentChain(opened.directory, outboxID: opened.id, reporter: DamageReporter { damage in
                file = damage.name
                throw damage.error
            })
            try chain.walk(from: 1) { segment, frame in
                _ = try segment.messages(in: frame)  // what `dump` decodes
                return true
            }
            file = listing?.tombstones.last?.name ?? FileNames.tombstones(1)
            _ = try TombstoneFile.read(in: directory, outboxID: opened.id)
            file = DeadLetterLog.fileName
            if (try? directory.openFile(DeadLetterLog.fileName, writable: false)) != nil {
                _ = try DeadLetterLog.list(in: directory, outboxID: opened.id)
            }
            file = listing?.segments.last?.name ?? ""
            var configuration = OutboxConfiguration()
            configuration.createIfMissing = false
            _ = try SegmentWriter.recover(directory: directory, configuration: configuration, logger: logger)
            return nil
        } catch let e as OutboxError {
            return (file, e)
        } catch {
            return (file, OutboxError(.io, "\(error)"))
        }
    }


    /// Cuts a torn tail: the file is replaced by a copy of its bytes before `offset`, the original kept
    /// whole as `NAME.broken`.
    private static func truncate(_ name: String, at offset: Int64, in directory: OutboxDirectory) throws -> String {
        let file = try directory.openFile(name, writable: false)
        let size = try file.size()
        let kept = try file.read(at: 0, count: Int(offset))
        let keptAs = SegmentSalvage.unusedName(name + ".broken", in: directory)
        try directory.replaceFile(name, keepingOldAs: keptAs, contents: [kept])
        return "cut the torn tail of \(name) at offset \(offset) (\(size - offset) bytes; the original is kept as \(keptAs))"
    }

    private static func rebuildOther(_ name: String, in directory: OutboxDirectory, reference: OutboxID?) throws -> String {
        let kind: FileHeader.Kind = name == DeadLetterLog.fileName ? .deadLetters : name == FileNames.dropped ? .dropped : .tombstones
        let base = kind == .tombstones ? FileNames.parseTombstones(name) ?? 1 : 1
        return try SegmentSalvage.rebuildOther(name, kind: kind, base: base, reference: reference, in: directory, keep: .beside)
    }
}
