import Foundation
import Logging

extension OutboxInspector {
    /// Repairs what ``verify(path:)`` finds, never deleting a byte it has not kept: every file it changes
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
    public static func repair(path: String, logger: Logger = Logger(label: "outbox.repair")) async throws -> RepairReport {
        let sys = LinuxSystemCalls()
        let (directory, writerLock, repaired, holes) = try await onDedicatedThread("outbox-repair") {
            let directory = try OutboxDirectory.open(path, create: false, sys: sys)
            let writerLock = try lockForRepair(FileLock.writerLockName, in: directory, role: "writing")
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
            if remaining.isEmpty, let failure = trialOpen(directory, logger: logger) {
                remaining.append(VerifyProblem(file: failure.path.map { String($0.split(separator: "/").last ?? "") } ?? "", offset: failure.offset,
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
        var holes = SequenceRangeSet()
        var result = RepairReport()
        do {
            let relayLock = try lockForRepair(FileLock.relayLockName, in: directory, role: "relaying")
            defer { relayLock.release() }
            let report = try verify(directory)
            if let p = report.problems.first(where: { $0.kind == .unsupportedVersion }) {
                throw OutboxError(.unsupportedVersion, "cannot repair: \(p.reason)", path: directory.pathOf(p.file))
            }
            let listing = try FileNames.list(directory)
            let segments = listing.segments
            let reference = ReferenceOutboxID.find(in: directory, listing)
            let foreign = Set(report.problems.filter { $0.kind == .foreignOutbox }.map(\.file))
            let damagedFiles = Set(report.problems.filter { [.corrupt, .badHeader].contains($0.kind) || ($0.kind == .sequenceGap && $0.offset != 32) }.map(\.file))
            let tombstoned = reference.flatMap { try? TombstoneFile.read(in: directory, outboxID: $0).0 }
            for (i, entry) in segments.enumerated() {
                let nextBase = i + 1 < segments.count ? segments[i + 1].base : nil
                if foreign.contains(entry.name), let reference {
                    let (action, lost) = try repairForeignSegment(entry.name, base: entry.base, nextBase: nextBase, reference: reference,
                                                                  highestTombstoned: tombstoned?.finished.ranges.last?.upperBound, in: directory)
                    holes.formUnion(lost)
                    result.actions.append(action)
                } else if damagedFiles.contains(entry.name) {
                    let lost = try rebuildSegment(entry.name, base: entry.base, nextBase: nextBase, in: directory)
                    holes.formUnion(lost)
                    result.actions.append("rebuilt \(entry.name) from its valid frames (original kept as \(entry.name).broken)"
                                          + (lost.isEmpty ? "" : "; sequence numbers \(lost) lost to damage became holes"))
                } else if let torn = report.problems.first(where: { $0.file == entry.name && $0.kind == .tornTail }), let offset = torn.offset {
                    result.actions.append(try truncate(entry.name, at: offset, in: directory))
                }
            }
            for p in report.problems where p.kind == .sequenceGap && p.offset == 32 {
                guard let base = FileNames.parseSegment(p.file), let i = segments.firstIndex(where: { $0.base == base }) else { continue }
                guard i > 0 else {
                    // Numbers below the first segment that are not tombstoned were in a segment that is
                    // missing: they are lost, and tombstoned as such.
                    let finished = tombstoned?.finished ?? SequenceRangeSet()
                    var lost = SequenceRangeSet()
                    var n = finished.firstMissing(from: 1)
                    while n < base {
                        let end = min(base, finished.ranges.first { $0.lowerBound > n }?.lowerBound ?? base)
                        lost.insert(n...(end - 1))
                        n = finished.firstMissing(from: end)
                    }
                    if !lost.isEmpty {
                        holes.formUnion(lost)
                        result.actions.append("sequence numbers \(lost), below the first segment and not tombstoned, were in a missing segment: they are lost")
                    }
                    continue
                }
                // A missing segment: a segment holding only a hole keeps the numbering dense.
                guard !foreign.contains(segments[i - 1].name) else { continue }  // that one's hole covers it
                let previous = try walkFile(segments[i - 1].name, in: directory, reference: reference)
                var start = segments[i - 1].base
                for case .frame(_, _, _, let first, let count) in previous.entries { start = max(start, first + UInt64(count)) }
                guard start < base else { continue }
                let header = try LogFile.checkHeader(of: directory.openFile(segments[i - 1].name, writable: false), kind: .segment,
                                                         expectedBase: segments[i - 1].base, outboxID: nil)
                let name = FileNames.segment(start)
                let identity = FileIdentity(outboxID: header.outboxID, base: start)
                var h = header
                h.base = start
                _ = try directory.createFile(name, contents: [h.encode()] + holeFrames(start...(base - 1), identity: identity,
                                                                                         offset: Int64(FileHeader.size), note: "segment missing"))
                holes.insert(start...(base - 1))
                result.actions.append("created \(name) holding a hole for the missing sequence numbers \(start)...\(base - 1)")
            }
            for p in report.problems where p.file.hasPrefix(FileNames.tombstonePrefix) || p.file == DeadLetterLog.fileName {
                switch p.kind {
                case .tornTail:
                    if let offset = p.offset { result.actions.append(try truncate(p.file, at: offset, in: directory)) }
                case .corrupt, .badHeader:
                    result.actions.append(try rebuildOther(p.file, in: directory, reference: reference))
                case .foreignOutbox:
                    let keptAs = try moveAside(p.file, in: directory)
                    result.actions.append("moved \(p.file), a file of another outbox, aside intact as \(keptAs)"
                                          + (p.file == DeadLetterLog.fileName ? "" : "; messages whose tombstones it held will be published again"))
                default:
                    continue
                }
            }
        }
        return (result, holes)
    }

    /// A segment whose valid header names another outbox. If its frames are this outbox's (they validate
    /// with `reference`), only the header is wrong: the segment is rebuilt with this outbox's id. If not,
    /// it is another outbox's file: moved aside intact, and a segment holding a hole takes its place for
    /// the numbers it stood for (up to the next segment, or for the last one up to the highest number its
    /// frames or the tombstones name). Returns what was done and the numbers lost.
    private static func repairForeignSegment(_ name: String, base: UInt64, nextBase: UInt64?, reference: OutboxID,
                                             highestTombstoned: UInt64?, in directory: OutboxDirectory) throws -> (String, SequenceRangeSet) {
        let file = try directory.openFile(name, writable: false)
        let own = try LogFile.checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: nil)
        let ours = try frameSpan(file, identity: FileIdentity(outboxID: reference, base: base), maxBody: own.maxRecordSize)
        let theirs = try frameSpan(file, identity: FileIdentity(outboxID: own.outboxID, base: base), maxBody: own.maxRecordSize)
        if ours.frames > 0, ours.frames >= theirs.frames {
            let lost = try rebuildSegment(name, base: base, nextBase: nextBase, in: directory, identity: FileIdentity(outboxID: reference, base: base))
            return ("rebuilt \(name), whose header named another outbox (\(own.outboxID)) but whose frames are this outbox's, with this outbox's id (original kept as \(name).broken)"
                    + (lost.isEmpty ? "" : "; sequence numbers \(lost) lost to damage became holes"), lost)
        }
        let keptAs = try moveAside(name, in: directory)
        let upper = nextBase.map { $0 - 1 } ?? max(theirs.last ?? 0, highestTombstoned ?? 0)
        var header = own
        header.outboxID = reference
        let identity = FileIdentity(outboxID: reference, base: base)
        var lost = SequenceRangeSet()
        var frames: [[UInt8]] = []
        if upper >= base {
            lost.insert(base...upper)
            frames = holeFrames(base...upper, identity: identity, offset: Int64(FileHeader.size), note: "\(name) belonged to another outbox")
        }
        _ = try directory.createFile(name, contents: [header.encode()] + frames)
        return ("moved \(name), a file of another outbox (\(own.outboxID)), aside intact as \(keptAs)"
                + (lost.isEmpty ? "; a new empty \(name) takes its place" : "; a new \(name) holds a hole for sequence numbers \(lost)"), lost)
    }

    /// How many valid frames `file` holds under `identity`, and the highest sequence number they name.
    private static func frameSpan(_ file: OutboxFile, identity: FileIdentity, maxBody: UInt32) throws -> (frames: Int, last: UInt64?) {
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxBody, kinds: FrameContent.kinds(in: .segment), size: try file.size())
        var frames = 0
        var last: UInt64?
        while true {
            switch try scanner.next() {
            case .end:
                return (frames, last)
            case .frame(let f):
                frames += 1
                last = max(last ?? 0, f.header.first + UInt64(f.header.count) - 1)
            case .damage(let d):
                guard let next = try scanner.nextValidFrame(after: d.offset) else { return (frames, last) }
                scanner.offset = next
            }
        }
    }

    /// Renames `name` to `NAME.foreign` (or `.foreign.N`), durably; the new name.
    private static func moveAside(_ name: String, in directory: OutboxDirectory) throws -> String {
        let keptAs = keepName(name, suffix: ".foreign", in: directory)
        try directory.rename(name, to: keptAs)
        try directory.syncDirectory()
        return keptAs
    }

    /// After a repair: the outbox opens as `dump`, `append` and the relay open it; the first failure.
    private static func trialOpen(_ directory: OutboxDirectory, logger: Logger) -> OutboxError? {
        do {
            let reader = try OutboxReader(path: directory.path)
            try reader.forEachMessage { _ in true }
            _ = try TombstoneFile.read(in: directory, outboxID: reader.outboxID)
            if (try? directory.openFile(DeadLetterLog.fileName, writable: false)) != nil {
                _ = try DeadLetterLog.list(in: directory, outboxID: reader.outboxID)
            }
            var configuration = OutboxConfiguration()
            configuration.createIfMissing = false
            _ = try SegmentWriter.recover(directory: directory, configuration: configuration, logger: logger)
            return nil
        } catch let e as OutboxError {
            return e
        } catch {
            return OutboxError(.io, "\(error)")
        }
    }

    private static func lockForRepair(_ name: String, in directory: OutboxDirectory, role: String) throws -> FileLock {
        do { return try FileLock.acquire(name, in: directory, role: role) } catch var e as OutboxError where e.code == .locked {
            e.message = "refusing to repair: \(e.message); stop it first"
            throw e
        }
    }

    /// Cuts a torn tail: the file is replaced by a copy of its bytes before `offset`, the original kept
    /// whole as `NAME.broken`.
    private static func truncate(_ name: String, at offset: Int64, in directory: OutboxDirectory) throws -> String {
        let file = try directory.openFile(name, writable: false)
        let size = try file.size()
        let kept = try file.read(at: 0, count: Int(offset))
        let keptAs = keepName(name, in: directory)
        try directory.replaceFile(name, keepingOldAs: keptAs, contents: [kept])
        return "cut the torn tail of \(name) at offset \(offset) (\(size - offset) bytes; the original is kept as \(keptAs))"
    }

    /// A name under which to keep the original of a file being replaced.
    private static func keepName(_ name: String, suffix: String = ".broken", in directory: OutboxDirectory) -> String {
        var candidate = name + suffix
        var n = 1
        while (try? directory.openFile(candidate, writable: false)) != nil {
            candidate = name + suffix + ".\(n)"
            n += 1
        }
        return candidate
    }

    /// Hole frames for `range` (split to fit the count field), starting at `offset`.
    private static func holeFrames(_ range: ClosedRange<UInt64>, identity: FileIdentity, offset: Int64, note: String) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var start = range.lowerBound
        var at = offset
        let body = Array("lost to damage (\(note)); found by outbox verify --repair".utf8)
        while start <= range.upperBound {
            let count = min(range.upperBound - start + 1, UInt64(UInt32.max))
            let frame = FrameHeader.frame(kind: .hole, first: start, count: UInt32(count), body: body, identity: identity, offset: at)
            frames.append(frame)
            at += Int64(frame.count)
            start += count
        }
        return frames
    }

    /// Replaces a damaged segment by its valid frames, with holes where sequence numbers were lost.
    /// Returns the lost sequence numbers.
    private static func rebuildSegment(_ name: String, base: UInt64, nextBase: UInt64?, in directory: OutboxDirectory,
                                       identity given: FileIdentity? = nil) throws -> SequenceRangeSet {
        let file = try directory.openFile(name, writable: false)
        let reference = given?.outboxID ?? (try? FileNames.list(directory)).flatMap { ReferenceOutboxID.find(in: directory, $0) }
        let (_, describedHeader, identityFound, _) = describe(name, file, in: directory, reference: reference)
        guard let identity = given ?? identityFound else {
            throw OutboxError(.corrupt, "cannot repair: no other file tells this outbox's id", path: file.path)
        }
        var headerResult = describedHeader
        if given != nil, let own = try? LogFile.checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: nil) {
            var fixed = own
            fixed.outboxID = identity.outboxID
            headerResult = .success(fixed)
        }
        let header = (try? headerResult.get()) ?? FileHeader(
            kind: .segment, outboxID: identity.outboxID, base: base,
            maxRecordSize: siblingMaxRecordSize(in: directory, except: name) ?? UInt32(OutboxConfiguration().maxRecordSize),
            createdAtMicros: OutboxMessage.micros(Date()))
        let scanner = FrameScanner(file: file, identity: identity, maxBody: header.maxRecordSize,
                                   kinds: FrameContent.kinds(in: .segment), size: try file.size(),
                                   validate: { h, body in FrameContent.problem(h, body, maxBody: header.maxRecordSize) })
        var frames: [[UInt8]] = []
        var offset = Int64(FileHeader.size)
        var expected = base
        var lost = SequenceRangeSet()
        func add(_ frame: [UInt8]) {
            frames.append(frame)
            offset += Int64(frame.count)
        }
        scan: while true {
            switch try scanner.next() {
            case .end:
                break scan
            case .damage(let d):
                guard let next = try scanner.nextValidFrame(after: d.offset) else { break scan }
                scanner.offset = next
            case .frame(let f):
                guard f.header.first >= expected else { continue }
                if f.header.first > expected {
                    lost.insert(expected...(f.header.first - 1))
                    for h in holeFrames(expected...(f.header.first - 1), identity: identity, offset: offset, note: "in \(name)") { add(h) }
                }
                add(FrameHeader.frame(kind: f.header.kind, first: f.header.first, count: f.header.count, body: f.body,
                                      identity: identity, offset: offset))
                expected = f.header.first + UInt64(f.header.count)
            }
        }
        if let nextBase, expected < nextBase {
            lost.insert(expected...(nextBase - 1))
            for h in holeFrames(expected...(nextBase - 1), identity: identity, offset: offset, note: "in \(name)") { add(h) }
        }
        try directory.replaceFile(name, keepingOldAs: keepName(name, in: directory), contents: [header.encode()] + frames)
        return lost
    }

    private static func siblingMaxRecordSize(in directory: OutboxDirectory, except: String) -> UInt32? {
        guard let listing = try? FileNames.list(directory) else { return nil }
        for s in listing.segments where s.name != except {
            if let f = try? directory.openFile(s.name, writable: false),
               let h = try? LogFile.checkHeader(of: f, kind: .segment, expectedBase: s.base, outboxID: nil) {
                return h.maxRecordSize
            }
        }
        return nil
    }

    /// Replaces a damaged tombstone or dead-letter file by its valid frames, keeping the original.
    /// Lost tombstones make their messages pending again (published at least once, again).
    private static func rebuildOther(_ name: String, in directory: OutboxDirectory, reference: OutboxID?) throws -> String {
        let file = try directory.openFile(name, writable: false)
        let (kind, headerResult, identityFound, _) = describe(name, file, in: directory, reference: reference)
        guard let kind, let identity = identityFound else {
            throw OutboxError(.corrupt, "cannot repair: no other file tells this outbox's id", path: file.path)
        }
        let maxRecordSize = (try? headerResult.get().maxRecordSize)
            ?? siblingMaxRecordSize(in: directory, except: name) ?? UInt32(OutboxConfiguration().maxRecordSize)
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxRecordSize, kinds: FrameContent.kinds(in: kind),
                                   size: try file.size(), validate: { h, body in FrameContent.problem(h, body, maxBody: maxRecordSize) })
        var kept: [Frame] = []
        scan: while true {
            switch try scanner.next() {
            case .end: break scan
            case .frame(let f): kept.append(f)
            case .damage(let d):
                guard let next = try scanner.nextValidFrame(after: d.offset) else { break scan }
                scanner.offset = next
            }
        }
        let header = FileHeader(kind: kind, outboxID: identity.outboxID, base: identity.base, maxRecordSize: maxRecordSize,
                                createdAtMicros: OutboxMessage.micros(Date()))
        var offset = Int64(FileHeader.size)
        var frames: [[UInt8]] = []
        for f in kept {
            let frame = FrameHeader.frame(kind: f.header.kind, first: f.header.first, count: f.header.count, body: f.body,
                                          identity: identity, offset: offset)
            offset += Int64(frame.count)
            frames.append(frame)
        }
        let keptAs = keepName(name, in: directory)
        try directory.replaceFile(name, keepingOldAs: keptAs, contents: [header.encode()] + frames)
        return "rebuilt \(name) from its \(kept.count) valid frame(s) (original kept as \(keptAs))"
            + (kind == .tombstones ? "; messages whose tombstones were lost will be published again" : "")
    }
}
