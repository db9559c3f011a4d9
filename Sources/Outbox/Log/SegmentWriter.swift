import Foundation
import Logging
import Metrics

/// The single writer of an outbox's segments. Lives on the group-commit thread after ``recover``.
///
/// Recovery at open checks the active (last) segment in full (header, every frame's checksum and
/// structure, sequence continuity), truncates its torn tail and refuses any other damage; a sealed segment
/// is checked by its header and its seal (FORMAT.md §3a, §7), in full only when it has none. Message
/// bodies are decoded where they are read, not at open, so open takes the time of reading one segment
/// whatever the backlog. Appends then go only to the end of the
/// active segment; sealed segments are never written again.
final class SegmentWriter {
    /// One commit waiting for the group committer.
    struct Request {
        var body: [UInt8]
        var bodyCRC: UInt32
        var count: UInt32
        var completion: (Result<ClosedRange<UInt64>, OutboxError>) -> Void
    }

    let directory: OutboxDirectory
    let logger: Logger
    let outboxID: OutboxID
    let maxRecordSize: UInt32
    private(set) var segmentSize: Int64
    /// The disk budget, if the outbox has one (FORMAT.md §1b).
    private(set) var budget: DiskBudget?
    /// The bytes of the outbox's files other than the active segment, as last counted, and when.
    private var otherBytes: Int64 = 0
    private var counted: ContinuousClock.Instant?
    /// Whether the current group commit has recounted already.
    private var countedThisBatch = false
    /// Since when appends have been refused for want of room (the current full episode), if they are.
    private var fullSince: Date?
    /// What ``FullPolicy/dropOldest`` dropped since the last commit that fit without dropping.
    private var droppedInEpisode = SequenceRangeSet()
    private(set) var file: OutboxFile
    private(set) var base: UInt64
    private(set) var writeOffset: Int64
    /// The active segment's size: its frames end at ``writeOffset``, zeros allocated ahead of them fill it
    /// up to here (FORMAT.md §7).
    private(set) var allocatedEnd: Int64
    /// How far ahead of its frames the writer zero-fills the active segment, at most.
    static let allocationStep: Int64 = 1 << 20
    private static let zeros = [UInt8](repeating: 0, count: 1 << 16)
    /// The next sequence number to assign.
    private(set) var nextSeq: UInt64
    /// The frames the active segment holds, for its seal.
    private var frames: UInt32
    /// Whether the active segment's format has seals (version 3 on: a segment an older build created
    /// is sealed without one).
    private var sealable: Bool
    /// The active segment's format version: from version 4 its frames carry the tag of their write.
    private var version: UInt16
    /// Whether the active segment ends with its seal (a roll that did not get to create the next
    /// segment): every commit then goes to a new segment.
    private var sealed: Bool
    /// Set by a failed fsync (or a failure that leaves the file state unknown): sticky until reopen.
    private(set) var failure: OutboxError?
    /// Called after each durable commit with the last sequence number now durable, before its callers
    /// are completed.
    var onDurable: ((UInt64) -> Void)?
    /// `writer.durable`, updated after the callers of each commit are completed (for relays elsewhere).
    var markFile: DurableMarkFile?
    /// Called just before a durable commit completes its callers (``GroupCommitter/completing()``).
    var beforeCompleting: (() -> Void)?

    private var buffer: [UInt8] = []
    private let fsyncTimer: Metrics.Timer
    private let commitSize: Recorder

    private init(directory: OutboxDirectory, logger: Logger, outboxID: OutboxID, maxRecordSize: UInt32,
                 segmentSize: Int64, file: OutboxFile, base: UInt64, writeOffset: Int64, allocatedEnd: Int64, nextSeq: UInt64,
                 frames: UInt32 = 0, version: UInt16 = FileHeader.currentVersion, sealed: Bool = false) {
        self.directory = directory
        self.logger = logger
        fsyncTimer = Metrics.Timer(label: "outbox_fsync_duration_seconds", dimensions: [("outbox", directory.path)])
        commitSize = Recorder(label: "outbox_group_commit_messages", dimensions: [("outbox", directory.path)])
        self.outboxID = outboxID
        self.maxRecordSize = maxRecordSize
        self.segmentSize = segmentSize
        self.file = file
        self.base = base
        self.writeOffset = writeOffset
        self.allocatedEnd = max(allocatedEnd, writeOffset)
        self.nextSeq = nextSeq
        self.frames = frames
        self.sealable = FrameContent.segmentsHaveSeals(version)
        self.version = version
        self.sealed = sealed
    }

    /// Opens the segments for writing (the caller holds the writer lock), creating the first segment
    /// of a new outbox.
    static func recover(directory: OutboxDirectory, configuration: OutboxConfiguration, logger: Logger) throws -> SegmentWriter {
        var quarantined: Set<String> = []
        while true {
            do {
                let writer = try recoverOnce(directory: directory, configuration: configuration, logger: logger)
                // The writer is the only writer of dropped.log: a torn tail of a crash is cut now.
                _ = try DroppedLog.read(in: directory, outboxID: writer.outboxID, repairing: true)
                try writer.applyBudget(configuration)
                return writer
            } catch let e as OutboxError where configuration.onDamage == .quarantine && e.code == .corrupt {
                guard let path = e.path, let name = path.split(separator: "/").last.map(String.init),
                      FileNames.parseSegment(name) != nil, !quarantined.contains(name) else { throw e }
                quarantined.insert(name)
                try quarantine(name, because: e, in: directory, logger: logger)
            }
        }
    }

    /// Sets (``OutboxConfiguration/maxDiskBytes``) or reads the persisted budget, and sizes segments by it.
    private func applyBudget(_ configuration: OutboxConfiguration) throws {
        let persisted = try DiskBudget.read(in: directory)
        if let wanted = configuration.maxDiskBytes {
            budget = wanted > 0 ? DiskBudget(maxBytes: wanted, onFull: configuration.onFull ?? persisted?.onFull ?? .reject) : nil
        } else {
            budget = persisted
            if let onFull = configuration.onFull { budget?.onFull = onFull }
        }
        if persisted != budget { try DiskBudget.write(budget, in: directory) }
        if let budget {
            segmentSize = Int64(budget.segmentSize(configured: Int(segmentSize)))
            try countUsage()
            logger.debug("disk budget", metadata: ["maxBytes": "\(budget.maxBytes)", "used": "\(otherBytes + allocatedEnd)"])
        }
    }

    /// Counts the bytes of every file but the active segment (whose size the writer knows).
    private func countUsage() throws {
        otherBytes = try DiskBudget.usage(of: directory) - (try file.size())
        counted = .now
    }

    /// Whether `bytes` more fit the budget; recounts the other files first, at most once per group
    /// commit, when the answer could change (near the limit, or when the count is half a second old), so
    /// that room the relay freed is seen.
    private func fits(_ bytes: Int64) -> Bool {
        guard let budget else { return true }
        let limit = budget.appendLimit
        let near = otherBytes + activeBytes(adding: bytes) > limit - max(Int64(segmentSize), budget.maxBytes / 8)
        if !countedThisBatch, near || counted.map({ ContinuousClock.now - $0 > .milliseconds(500) }) ?? true {
            try? countUsage()
            countedThisBatch = true
        }
        return otherBytes + activeBytes(adding: bytes) <= limit
    }

    /// What the active segment takes on disk (its allocated size) once `bytes` more are written.
    private func activeBytes(adding bytes: Int64) -> Int64 { max(allocatedEnd, writeOffset + bytes) }

    /// ``FullPolicy/dropOldest``: removes the oldest sealed segments, one at a time, until `bytes` more
    /// fit, first recording the numbers each held in `dropped.log` (durably). False when even removing
    /// every sealed segment would not make room.
    private func dropOldest(toFit bytes: Int64) -> Bool {
        guard let budget else { return false }
        do {
            while true {
                try countUsage()
                if otherBytes + activeBytes(adding: bytes) <= budget.appendLimit { return true }
                let segments = try FileNames.list(directory).segments
                guard segments.count >= 2 else { return false }  // only the active segment is left
                let (first, next) = (segments[0], segments[1])
                var range = SequenceRangeSet()
                range.insert(first.base...(next.base - 1))
                try DroppedLog.append(range, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
                do { try directory.remove(first.name) } catch let e as OutboxError where e.errno == ENOENT {}  // compacted meanwhile
                try directory.syncDirectory()
                if droppedInEpisode.isEmpty {
                    logger.debug("the outbox is full: dropping the oldest messages to make room (drop-oldest)", metadata: [
                        "budget": "\(budget.maxBytes)"])
                }
                droppedInEpisode.formUnion(range)
                Counter(label: "outbox_dropped_total", dimensions: [("outbox", directory.path)])
                    .increment(by: Int(next.base - first.base))
            }
        } catch {
            logger.error("cannot drop the oldest messages", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Notes the start or the end of a full episode: logged once each way, and written to
    /// `writer-status.json` for `stats`.
    private func setFull(_ full: Bool) {
        guard full != (fullSince != nil) else { return }
        fullSince = full ? Date() : nil
        if full {
            logger.info("the outbox is full: appends are refused until a relay frees room", metadata: [
                "used": "\(otherBytes + allocatedEnd)", "budget": "\(budget?.maxBytes ?? 0)"])
        } else {
            logger.info("the outbox has room again: appends succeed")
        }
        try? WriterStatusFile(pid: getpid(), fullSinceMicros: fullSince.map(OutboxMessage.micros)).write(in: directory)
    }

    private func fullError(_ bytes: Int64) -> OutboxError {
        let used = otherBytes + allocatedEnd
        return OutboxError(.outboxFull, "the outbox is full: \(used) bytes used of its \(budget?.maxBytes ?? 0)-byte disk budget, whose last "
                           + "\(budget?.reserveBytes ?? 0) bytes are kept for the relay's tombstones; a commit of \(bytes) bytes does not fit "
                           + "(appends succeed again once a relay publishes and compacts)", path: directory.path)
    }

    /// ``DamagePolicy/quarantine``: saves what segment `name` holds, its original going to
    /// `quarantine/`; or, for a segment whose header is sound but that does not follow the one before it
    /// (a segment missing in between), adds a segment holding a hole for the missing numbers.
    private static func quarantine(_ name: String, because e: OutboxError, in directory: OutboxDirectory, logger: Logger) throws {
        let listing = try FileNames.list(directory)
        guard let i = listing.segments.firstIndex(where: { $0.name == name }) else { throw e }
        let base = listing.segments[i].base
        let file = try directory.openFile(name, writable: false)
        let sound = try? LogFile.checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: ReferenceOutboxID.find(in: directory, listing))
        let action: String
        let lost: SequenceRangeSet
        if sound != nil, e.offset == 32, i > 0 {
            // The segment before ends short of this one's base: the segment between is missing.
            guard let filled = try SegmentSalvage.fillGap(after: listing.segments[i - 1], before: base, in: directory) else { throw e }  // an overlap
            (action, lost) = filled
        } else {
            (action, lost) = try SegmentSalvage.salvage(name, in: directory, keep: .quarantine(reason: e.message, offset: e.offset))
        }
        SegmentSalvage.report(quarantined: name, because: e, action: action, lost: lost, in: directory, logger: logger)
    }

    private static func recoverOnce(directory: OutboxDirectory, configuration: OutboxConfiguration, logger: Logger) throws -> SegmentWriter {
        let listing = try FileNames.list(directory)
        for name in listing.temporary where name.hasPrefix(OutboxDirectory.temporaryPrefix + FileNames.segmentPrefix) {
            logger.notice("removing leftover temporary file", metadata: ["file": "\(directory.pathOf(name))"])
            try directory.remove(name)
            try directory.syncDirectory()
        }
        let segmentSize = Int64(configuration.segmentSize)
        guard !listing.segments.isEmpty else {
            if let t = listing.tombstones.first {
                throw OutboxError(.corrupt, "tombstone file present but no segment: the segments are missing",
                                  path: directory.pathOf(t.name))
            }
            guard configuration.createIfMissing else {
                throw OutboxError(.notAnOutbox, "no outbox here (no segment files)", path: directory.path)
            }
            let id = OutboxID.random()
            let header = FileHeader(kind: .segment, outboxID: id, base: 1, maxRecordSize: UInt32(configuration.maxRecordSize),
                                    createdAtMicros: OutboxMessage.micros(Date()))
            let file = try directory.createFile(FileNames.segment(1), contents: [header.encode()])
            logger.info("created outbox", metadata: ["path": "\(directory.path)", "id": "\(id)"])
            return SegmentWriter(directory: directory, logger: logger, outboxID: id, maxRecordSize: header.maxRecordSize,
                                 segmentSize: segmentSize, file: file, base: 1, writeOffset: Int64(FileHeader.size),
                                 allocatedEnd: Int64(FileHeader.size), nextSeq: 1)
        }

        let outboxID = ReferenceOutboxID.find(in: directory, listing)
        var continuity = SequenceContinuity()
        var trustedSeal: (name: String, base: UInt64)?  // the previous segment, if open checked it by its seal alone
        for (i, entry) in listing.segments.enumerated() {
            let isLast = i == listing.segments.count - 1
            let segment = try SegmentFile.open(entry.name, base: entry.base, in: directory, writable: isLast, expecting: outboxID)
            do { try continuity.checkSegment(base: entry.base, path: segment.file.path) } catch {
                // The segment before was taken at its seal's word: if its seal disagrees with its own
                // frames, the damage is there (at the seal), not in this one.
                if let previous = trustedSeal { try checkInFull(previous.name, base: previous.base, in: directory, expecting: outboxID) }
                throw error
            }
            trustedSeal = nil
            // A sealed segment whose seal checks out: its frames are checked when they are read, and by
            // `verify` (FORMAT.md §7). The time this takes does not grow with the backlog.
            if !isLast, let seal = try segment.scanner.sealAtEnd(), seal.end > entry.base {
                continuity.skip(to: seal)
                trustedSeal = (entry.name, entry.base)
                continue
            }
            let policy: RecoveryPolicy = isLast ? .truncate(logger) : .refuse
            var frames: UInt32 = 0
            let end = try policy.walk(segment.scanner) { frame in
                try continuity.checkFrame(frame.header, offset: frame.offset, path: segment.file.path)
                frames += 1
                return true
            }
            try segment.checkEnd(continuity, sealed: !isLast)
            if isLast {
                return SegmentWriter(
                    directory: directory, logger: logger, outboxID: segment.header.outboxID,
                    maxRecordSize: segment.header.maxRecordSize, segmentSize: segmentSize, file: segment.file,
                    base: entry.base, writeOffset: end, allocatedEnd: try segment.file.size(), nextSeq: continuity.next ?? entry.base,
                    frames: frames, version: segment.header.version, sealed: segment.scanner.seal != nil)
            }
        }
        fatalError("unreachable: the last segment returns")
    }

    private var identity: FileIdentity { FileIdentity(outboxID: outboxID, base: base) }

    /// Walks sealed segment `name` in full (every frame, its numbers, its seal), throwing the damage it
    /// finds (open's check when a seal it trusted is contradicted by the segment after it).
    private static func checkInFull(_ name: String, base: UInt64, in directory: OutboxDirectory, expecting outboxID: OutboxID?) throws {
        let segment = try SegmentFile.open(name, base: base, in: directory, expecting: outboxID)
        var continuity = SequenceContinuity()
        try continuity.checkSegment(base: base, path: segment.file.path)
        try RecoveryPolicy.refuse.walk(segment.scanner) { frame in
            try continuity.checkFrame(frame.header, offset: frame.offset, path: segment.file.path)
            return true
        }
        try segment.checkEnd(continuity, sealed: true)
    }

    /// Commits a batch: frames for every request, one write, one fdatasync, then completions.
    /// Rolls to a new segment first when the active one is full.
    func process(_ batch: [Request]) {
        if let failure {
            for r in batch { r.completion(.failure(Self.stopped(failure))) }
            return
        }
        var pending: [(request: Request, range: ClosedRange<UInt64>, end: Int)] = []
        pending.reserveCapacity(batch.count)
        buffer.removeAll(keepingCapacity: true)
        var seq = nextSeq
        var index = 0
        var refused = false
        countedThisBatch = false
        let droppedBefore = droppedInEpisode.count
        while index < batch.count {
            let request = batch[index]
            let frameLength = FrameHeader.size + request.body.count
            let used = writeOffset + Int64(buffer.count)
            let rolls = sealed || (used + Int64(frameLength) > segmentSize && used > Int64(FileHeader.size))
            // A commit that would pass the budget (with the seal and the header of a new segment, if it
            // rolls) is refused, and so is every later one of this batch, so that commits are never reordered.
            let needed = Int64(buffer.count + frameLength) + (rolls ? Int64(FileHeader.size + Seal.frameSize) : 0)
            if budget != nil, !fits(needed), !(budget?.onFull == .dropOldest && dropOldest(toFit: needed)) {
                let error = fullError(Int64(frameLength))
                setFull(true)
                refused = true
                for r in batch[index...] { r.completion(.failure(error)) }
                break
            }
            if rolls {
                if let error = flush(&pending) ?? roll() {
                    for r in batch[index...] { r.completion(.failure(error)) }
                    return
                }
                seq = nextSeq
            }
            let offset = writeOffset + Int64(buffer.count)
            // The buffer is written with one write at `writeOffset`: every frame carries that write's tag.
            let tag = FrameHeader.writeTag(start: writeOffset, version: version)
            FrameHeader(bodyLength: UInt32(request.body.count), first: seq, count: request.count, kind: .messages, flags: tag)
                .append(to: &buffer, identity: identity, offset: offset, bodyCRC: request.bodyCRC)
            buffer.append(contentsOf: request.body)
            let range = seq...(seq + UInt64(request.count) - 1)
            pending.append((request, range, buffer.count))
            seq = range.upperBound + 1
            index += 1
        }
        let committed = !pending.isEmpty
        let droppedDuringBatch = droppedInEpisode.count != droppedBefore
        let error = flush(&pending)
        // A commit that fits after refusals ends the full episode.
        if !refused, committed, error == nil, fullSince != nil { setFull(false) }
        if committed, !droppedDuringBatch, !droppedInEpisode.isEmpty {
            logger.warning("dropped the oldest messages to make room: they will never be published", metadata: [
                "seqs": "\(droppedInEpisode)", "count": "\(droppedInEpisode.count)"])
            droppedInEpisode = SequenceRangeSet()
        }
    }

    /// Writes and fdatasyncs the buffer, completes `pending`, and returns the error if it failed.
    private func flush(_ pending: inout [(request: Request, range: ClosedRange<UInt64>, end: Int)]) -> OutboxError? {
        defer {
            pending.removeAll(keepingCapacity: true)
            buffer.removeAll(keepingCapacity: true)
        }
        guard !buffer.isEmpty else { return nil }
        allocate(through: writeOffset + Int64(buffer.count))
        let (written, writeError) = buffer.withUnsafeBytes { file.writeAll($0, at: writeOffset) }
        if let writeError {
            // Keep the frames that reached the file whole; cut the partial one.
            let kept = pending.prefix { $0.end <= written }
            let keepBytes = kept.last?.end ?? 0
            do {
                try file.truncate(to: writeOffset + Int64(keepBytes))
                allocatedEnd = writeOffset + Int64(keepBytes)
                try file.dataSync()
            } catch let e as OutboxError {
                return failStop(e, pending)
            } catch { return failStop(OutboxError(.io, "\(error)"), pending) }
            writeOffset += Int64(keepBytes)
            frames += UInt32(kept.count)
            if let last = kept.last { nextSeq = last.range.upperBound + 1 }
            logger.error("append failed; nothing acknowledged was lost", metadata: ["error": "\(writeError)"])
            if let last = kept.last { onDurable?(last.range.upperBound) }
            for p in pending {
                if p.end <= keepBytes { p.request.completion(.success(p.range)) } else { p.request.completion(.failure(writeError)) }
            }
            if let last = kept.last { markFile?.record(last.range.upperBound) }
            return writeError
        }
        let syncStart = ContinuousClock.now
        do { try file.dataSync() } catch let e as OutboxError {
            return failStop(e, pending)
        } catch { return failStop(OutboxError(.io, "\(error)"), pending) }
        fsyncTimer.recordNanoseconds((ContinuousClock.now - syncStart).wholeNanoseconds)
        commitSize.record(pending.count)
        writeOffset += Int64(buffer.count)
        frames += UInt32(pending.count)
        let last = pending[pending.count - 1].range.upperBound
        nextSeq = last + 1
        // The durable mark moves before any caller returns: a relay in this process that sees a caller's
        // message also sees it reported durable.
        onDurable?(last)
        beforeCompleting?()
        for p in pending { p.request.completion(.success(p.range)) }
        markFile?.record(last)
        return nil
    }

    private func failStop(_ error: OutboxError, _ pending: [(request: Request, range: ClosedRange<UInt64>, end: Int)]) -> OutboxError {
        failure = error
        logger.critical("outbox stopped accepting appends until reopened", metadata: ["error": "\(error)"])
        for p in pending { p.request.completion(.failure(error)) }
        return error
    }

    static func stopped(_ failure: OutboxError) -> OutboxError {
        OutboxError(.failedStop, "the outbox stopped after an earlier failure; reopen it", cause: failure)
    }

    /// Zero-fills the active segment ahead of `needed`, a step at a time, so that a commit's `fdatasync`
    /// writes data pages only: the file's size (inode metadata) does not change with every commit. The
    /// zeros are written before the frames that need them and made durable by the same `fdatasync`;
    /// recovery and readers take zeros after the last frame for the end of the log (FORMAT.md §7). Never
    /// past the segment size or the disk budget; a failed write only means less is allocated.
    private func allocate(through needed: Int64) {
        guard needed > allocatedEnd else { return }
        // Ahead by as much as the segment already holds, from 64 KiB up to the step: a small outbox (a
        // test's, a quiet service's) is not given a megabyte of zeros it will never use.
        let ahead = min(Self.allocationStep, max(64 << 10, needed - Int64(FileHeader.size)))
        var end = max(needed, min(needed + ahead, segmentSize))
        if let budget { end = max(needed, min(end, budget.appendLimit - otherBytes)) }
        var at = needed  // below it, the frames themselves are about to be written
        while at < end {
            let n = Int(min(Int64(Self.zeros.count), end - at))
            let (written, error) = Self.zeros.withUnsafeBytes { file.writeAll(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: at) }
            at += Int64(written)
            if error != nil { break }
        }
        allocatedEnd = max(needed, (try? file.size()) ?? at)
    }

    /// Seals the active segment (trimmed to its frames, its seal written after them, fsync) and starts a
    /// new one at ``nextSeq``: temporary file, header, fsync, rename, directory fsync. Returns the error if
    /// it failed.
    private func roll() -> OutboxError? {
        do {
            if allocatedEnd > writeOffset {
                try file.truncate(to: writeOffset)
                allocatedEnd = writeOffset
            }
            if sealable, !sealed, let noRoom = try writeSeal() { return noRoom }
            try file.sync()
        } catch let e as OutboxError {
            return failStop(e, [])
        } catch { return failStop(OutboxError(.io, "\(error)"), []) }
        let header = FileHeader(kind: .segment, outboxID: outboxID, base: nextSeq, maxRecordSize: maxRecordSize,
                                createdAtMicros: OutboxMessage.micros(Date()))
        do {
            let newFile = try directory.createFile(FileNames.segment(nextSeq), contents: [header.encode()])
            logger.debug("rolled to a new segment", metadata: ["file": "\(newFile.path)"])
            otherBytes += writeOffset  // the sealed segment is one of the others now
            file = newFile
            base = nextSeq
            writeOffset = Int64(FileHeader.size)
            allocatedEnd = writeOffset
            frames = 0
            sealable = true
            version = header.version
            sealed = false
            return nil
        } catch let e as OutboxError {
            if e.code == .syncFailed { return failStop(e, []) }
            return e
        } catch { return OutboxError(.io, "\(error)") }
    }

    /// Writes the active segment's seal after its frames (the file is trimmed to them). A seal that cannot
    /// be written (no room) is cut off again. A segment of version 4 is never sealed without one (FORMAT.md
    /// §3a): the roll fails with that error (returned), the segment stays active, and the next commit
    /// tries again. An older segment is sealed without one, and open checks it in full.
    private func writeSeal() throws -> OutboxError? {
        let seal = Seal(offset: writeOffset, end: nextSeq, frames: frames)
        let bytes = seal.encode(identity: identity, sealedAtMicros: OutboxMessage.micros(Date()),
                                tag: FrameHeader.writeTag(start: writeOffset, version: version))
        let (_, error) = bytes.withUnsafeBytes { file.writeAll($0, at: writeOffset) }
        if let error {
            try file.truncate(to: writeOffset)
            if version >= FrameHeader.taggedVersion { return error }
            logger.warning("could not write the seal of a full segment; open will check it in full", metadata: [
                "file": "\(file.path)", "error": "\(error)"])
            return nil
        }
        writeOffset += Int64(bytes.count)
        allocatedEnd = writeOffset
        sealed = true
        return nil
    }

    /// Marks `range` lost: numbers above what recovery found that other files show were used
    /// (``NumberEvidence``), given to hole frames at the end of the active segment (durably: write,
    /// `fdatasync`) so that they are never given to new messages (FORMAT.md §8). Called at open, before
    /// the first commit.
    func markLost(_ range: ClosedRange<UInt64>, note: String) throws {
        precondition(range.lowerBound == nextSeq, "holes continue the numbers")
        if sealed, let error = roll() { throw error }
        let tag = FrameHeader.writeTag(start: writeOffset, version: version)
        let holes = SegmentSalvage.holeFrames(range, identity: identity, offset: writeOffset, note: note, tag: tag)
        let bytes = holes.flatMap { $0 }
        allocate(through: writeOffset + Int64(bytes.count))
        try file.write(bytes, at: writeOffset)
        try file.dataSync()
        writeOffset += Int64(bytes.count)
        frames += UInt32(holes.count)
        nextSeq = range.upperBound + 1
    }

    /// Trims the space allocated ahead of the active segment's frames and fsyncs it (at close: a closed
    /// outbox's files end with their last frame).
    func syncForClose() throws {
        guard failure == nil else { return }
        if allocatedEnd > writeOffset {
            try file.truncate(to: writeOffset)
            allocatedEnd = writeOffset
        }
        try file.sync()
    }
}
