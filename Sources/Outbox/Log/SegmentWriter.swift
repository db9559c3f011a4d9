import Crypto
import Foundation
import Logging
import Metrics

/// The single writer of an outbox's segments. Lives on the group-commit thread after
/// ``recover(directory:configuration:logger:listener:)``.
///
/// Appends go only to the end of the active segment (``ActiveSegment``); sealed segments are never
/// written again. A commit that would pass the disk budget is refused or makes room (``WriterBudget``).
/// A failed `fdatasync` stops the writer until it is reopened (fail-stop). The durable mark leaves it by
/// one route: the ``CommitListener`` it was made with, and `writer.durable` for other processes.
final class SegmentWriter {
    /// One commit waiting for the group committer.
    struct Request {
        var body: [UInt8]
        var bodyCRC: UInt32
        var count: UInt32
        /// ``FrameKind/messages``, or ``FrameKind/laneMessages`` for a commit with a lane other than `normal`.
        var kind: FrameKind = .messages
        /// The commit's lane filter (``LaneSummary/filter(kind:body:)``), for the segment's seal.
        var lanes: UInt64 = LaneSummary.normalBit
        /// How many bytes at the start of `body` stay in clear in an encrypted segment (a kind-14 frame's
        /// lane summary, FORMAT.md §10); the records after them go into an envelope.
        var prefixLength = 0
        /// Its body sealed by the appender at the place it reserved (``SealPlan``), if it did.
        var presealed: SealPlan.Sealed?
        var completion: (Result<ClosedRange<UInt64>, OutboxError>) -> Void
    }

    /// A commit written into the buffer: its caller, its numbers, and where its frame ends in the buffer.
    private typealias Pending = (request: Request, range: ClosedRange<UInt64>, end: Int)

    let directory: OutboxDirectory
    let logger: Logger
    let maxRecordSize: UInt32
    private(set) var segmentSize: Int64
    private(set) var active: ActiveSegment
    private var budget: WriterBudget
    /// The next sequence number to assign.
    private(set) var nextSeq: UInt64
    /// Set by a failed fsync (or a failure that leaves the file state unknown): sticky until reopen.
    private(set) var failure: OutboxError?
    private let listener: CommitListener?
    /// `writer.durable`, updated after the callers of each commit are completed (for relays elsewhere);
    /// opened by ``startMarking()`` once the numbers are settled.
    private var markFile: DurableMarkFile?

    /// The master key it encrypts with until it starts its next segment (FORMAT.md §10): the current key
    /// when it opened or last started a segment (``chooseKey()``).
    private(set) var sealingKey: OutboxKeys.Key?

    /// Where appenders seal their commits before they queue them (an encrypted active segment).
    let sealPlan = SealPlan()
    /// How many commits it wrote as their appenders sealed them (for tests).
    private(set) var sealedByAppenders = 0
    /// Whether ``sealPlan`` handed out places under the active segment's epoch since it was drawn.
    private var epochExposed = false

    private var buffer: [UInt8] = []
    /// The frames of the buffer still to be sealed (an encrypted segment's).
    private var toSeal: [SealJob] = []
    /// The data key of the active segment and epoch, once derived.
    private var dataKey: (name: DataKeyName, key: SymmetricKey)?
    /// The cipher of the envelopes it writes (FORMAT.md §10).
    let cipher = Envelope.Cipher.preferred
    private let fsyncTimer: Metrics.Timer
    private let commitSize: Recorder

    init(directory: OutboxDirectory, logger: Logger, maxRecordSize: UInt32, segmentSize: Int64, active: ActiveSegment,
         nextSeq: UInt64, listener: CommitListener?) {
        self.directory = directory
        self.logger = logger
        fsyncTimer = Metrics.Timer(label: "outbox_fsync_duration_seconds", dimensions: [("outbox", directory.path)])
        commitSize = Recorder(label: "outbox_group_commit_messages", dimensions: [("outbox", directory.path)])
        self.maxRecordSize = maxRecordSize
        self.segmentSize = segmentSize
        self.active = active
        self.nextSeq = nextSeq
        self.listener = listener
        budget = WriterBudget(directory: directory, logger: logger)
    }

    var outboxID: OutboxID { active.outboxID }

    /// The name of the active segment.
    var activeName: String { FileNames.segment(active.base) }

    /// Sets (``OutboxConfiguration/maxDiskBytes``) or reads the persisted budget, and sizes segments by it.
    func applyBudget(_ configuration: OutboxConfiguration) throws {
        segmentSize = try budget.apply(configuration, segmentSize: segmentSize, active: active)
    }

    /// Opens `writer.durable`, once recovery settled the last number (and any lost ones were marked).
    func startMarking() {
        markFile = DurableMarkFile.openForWriting(in: directory, outboxID: outboxID, lastRecovered: nextSeq - 1, logger: logger)
    }

    /// Commits a batch: frames for every request, one write, one fdatasync, then completions (after
    /// `completing`, the group committer's word that callers are being released). Rolls to a new segment
    /// first when the active one is full.
    func process(_ batch: [Request], completing: () -> Void) {
        // Commits sealed by their appenders go in the order of the places they reserved (concurrent
        // commits have no order of their own); the others after them.
        let batch = batch.contains { $0.presealed != nil } ? batch.sorted { ($0.presealed?.offset ?? .max) < ($1.presealed?.offset ?? .max) } : batch
        defer { openPlan() }
        if let failure {
            for r in batch { r.completion(.failure(Self.stopped(failure))) }
            return
        }
        var pending: [Pending] = []
        pending.reserveCapacity(batch.count)
        buffer.removeAll(keepingCapacity: true)
        var seq = nextSeq
        var index = 0
        var refused = false
        budget.beginBatch()
        let droppedBefore = budget.droppedInEpisode.count
        while index < batch.count {
            let request = batch[index]
            let encrypt = directory.keys != nil
            let bodyLength = request.body.count + (encrypt ? Envelope.overhead : 0)
            let frameLength = FrameHeader.size + bodyLength
            let used = active.writeOffset + Int64(buffer.count)
            // A segment of a version before commit clocks cannot hold a commit of this build (FORMAT.md §4c): it
            // goes to a new one (recovery made an empty old segment a current one, so this one holds frames).
            let oldVersion = active.version < FileHeader.clockVersion
            // Likewise a plain segment cannot hold an encrypted commit, nor an encrypted one a plain commit.
            let otherEncryption = active.encrypted != encrypt
            let rolls = active.sealed || ((oldVersion || otherEncryption || used + Int64(frameLength) > segmentSize) && used > Int64(FileHeader.size))
            // A commit that would pass the budget (with the seal and the header of a new segment, if it
            // rolls) is refused, and so is every later one of this batch, so that commits are never reordered.
            let needed = Int64(buffer.count + frameLength) + (rolls ? Int64(FileHeader.size + Seal.frameSize(FileHeader.currentVersion)) : 0)
            if !budget.makeRoom(needed, active: active, segmentSize: segmentSize, outboxID: outboxID, maxRecordSize: maxRecordSize) {
                let error = budget.fullError(Int64(frameLength), active: active)
                budget.setFull(true, active: active)
                refused = true
                for r in batch[index...] { r.completion(.failure(error)) }
                break
            }
            if rolls {
                if let error = flush(&pending, completing: completing) ?? roll() {
                    for r in batch[index...] { r.completion(.failure(error)) }
                    return
                }
                seq = nextSeq
            }
            let offset = active.writeOffset + Int64(buffer.count)
            // The buffer is written with one write at the write offset: every frame carries that write's tag.
            let header = FrameHeader(bodyLength: UInt32(bodyLength), first: seq, count: request.count, kind: request.kind, flags: active.tag)
            if encrypt, let p = request.presealed, p.base == active.base, p.epoch == active.epoch, p.offset == offset, p.seq == seq,
               p.keyID == sealingKey?.id {
                header.append(to: &buffer, identity: active.identity, offset: offset, bodyCRC: p.bodyCRC)
                buffer.append(contentsOf: p.body)
                sealedByAppenders += 1
            } else if encrypt {
                // Sealed here: under an epoch no appender was given a place in (``SealPlan``).
                if epochExposed { newEpoch() }
                // Its place is kept in the buffer; it is sealed with the others of the write (``sealPending()``).
                toSeal.append(SealJob(request: request, header: header, offset: offset, start: buffer.count))
                buffer.append(contentsOf: repeatElement(0, count: frameLength))
            } else {
                header.append(to: &buffer, identity: active.identity, offset: offset, bodyCRC: request.bodyCRC)
                buffer.append(contentsOf: request.body)
            }
            let range = seq...(seq + UInt64(request.count) - 1)
            pending.append((request, range, buffer.count))
            seq = range.upperBound + 1
            index += 1
        }
        let committed = !pending.isEmpty
        let droppedDuringBatch = budget.droppedInEpisode.count != droppedBefore
        let error = flush(&pending, completing: completing)
        // A commit that fits after refusals ends the full episode.
        if !refused, committed, error == nil, budget.fullSince != nil { budget.setFull(false, active: active) }
        if committed, !droppedDuringBatch { budget.reportDrops() }
    }

    /// A frame of the buffer still to be sealed: its request, header, offset in the segment and place in
    /// the buffer.
    private struct SealJob {
        let request: Request
        let header: FrameHeader
        let offset: Int64
        let start: Int
    }

    /// Seals the frames kept in the buffer (FORMAT.md §10): each one's clear prefix, then its records in an
    /// envelope at its offset under the sealing key and this writer's epoch, with its header. The data key is
    /// derived once per file and epoch.
    private func sealPending() throws {
        defer { toSeal.removeAll(keepingCapacity: true) }
        guard !toSeal.isEmpty, let keys = directory.keys else { return }
        let (key, sealKey) = activeDataKey(keys)
        let (identity, epoch, path) = (active.identity, active.epoch, active.file.path)
        var head: [UInt8] = []
        head.reserveCapacity(FrameHeader.size)
        try buffer.withUnsafeMutableBytes { out in
            for job in toSeal {
                let split = job.request.prefixLength
                let body = job.request.body
                let place = Envelope.Place(outboxID: identity.outboxID, kind: .segment, base: identity.base, offset: job.offset, file: path)
                let envelope = try Envelope.seal(body[split...], dataKey: sealKey, keyID: key.id, cipher: cipher, epoch: epoch, place: place,
                                                 header: job.header, prefix: body[..<split])
                let crc = split == 0 ? CRC32.of(envelope) : CRC32.combine(CRC32.of(body[..<split]), CRC32.of(envelope), lengthOfB: envelope.count)
                head.removeAll(keepingCapacity: true)
                job.header.append(to: &head, identity: identity, offset: job.offset, bodyCRC: crc)
                var at = job.start
                for part in [head[...], body[..<split], envelope[...]] {
                    part.withUnsafeBytes { out.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    at += part.count
                }
            }
        }
    }

    /// Draws a new epoch for the active segment (FORMAT.md §10); places the plan gave under the old one
    /// are of no use from now on.
    private func newEpoch() {
        sealPlan.expect(nil)
        active.epoch = UInt64.random(in: 0...UInt64.max)
        epochExposed = false
    }

    /// Lets appenders seal their commits from the end of the active segment on, when it is encrypted and
    /// the plan is closed (after a batch, at open): under the active epoch, which is exposed from then on.
    func openPlan() {
        guard failure == nil, active.encrypted, !active.sealed, let keys = directory.keys, !sealPlan.isOpen else { return }
        let (key, sealKey) = activeDataKey(keys)
        sealPlan.expect(SealPlan.Place(identity: active.identity, epoch: active.epoch, keyID: key.id, dataKey: sealKey, cipher: cipher,
                                       file: active.file.path, limit: segmentSize, offset: active.writeOffset + Int64(buffer.count), seq: nextSeq))
        epochExposed = true
    }

    /// The key it seals with and the data key of the active segment and epoch under it, derived once
    /// per segment and epoch.
    private func activeDataKey(_ keys: OutboxKeys) -> (OutboxKeys.Key, SymmetricKey) {
        let key = sealingKey ?? keys.current
        let name = DataKeyName(key: key.id, base: active.base, epoch: active.epoch)
        if let d = dataKey, d.name == name { return (key, d.key) }
        let place = Envelope.Place(outboxID: outboxID, kind: .segment, base: active.base, offset: 0, file: active.file.path)
        let derived = Envelope.dataKey(key, in: keys, place: place, epoch: active.epoch)
        dataKey = (name, derived)
        return (key, derived)
    }

    /// What names a data key: the master key, the segment and the epoch.
    private struct DataKeyName: Equatable {
        let key: OutboxKeys.ID
        let base: UInt64
        let epoch: UInt64
    }

    /// Writes and fdatasyncs the buffer, completes `pending`, and returns the error if it failed.
    private func flush(_ pending: inout [Pending], completing: () -> Void) -> OutboxError? {
        defer {
            pending.removeAll(keepingCapacity: true)
            buffer.removeAll(keepingCapacity: true)
        }
        guard !buffer.isEmpty else { return nil }
        do { try sealPending() } catch let e as OutboxError {
            for p in pending { p.request.completion(.failure(e)) }
            return e
        } catch { preconditionFailure("sealing throws only OutboxError") }
        active.allocate(through: active.writeOffset + Int64(buffer.count), limit: budget.allocationLimit(segmentSize: segmentSize))
        let (written, writeError) = buffer.withUnsafeBytes { active.file.writeAll($0, at: active.writeOffset) }
        if let writeError { return keepWhole(pending, written: written, error: writeError) }
        let syncStart = ContinuousClock.now
        do { try active.file.dataSync() } catch let e as OutboxError {
            return failStop(e, pending)
        } catch { return failStop(OutboxError(.io, "\(error)"), pending) }
        fsyncTimer.recordNanoseconds((ContinuousClock.now - syncStart).wholeNanoseconds)
        commitSize.record(pending.count)
        active.writeOffset += Int64(buffer.count)
        active.frames += UInt32(pending.count)
        for p in pending { active.lanes |= p.request.lanes }
        let last = pending[pending.count - 1].range.upperBound
        nextSeq = last + 1
        // The durable mark moves before any caller returns.
        listener?.durable(through: last)
        completing()
        for p in pending { p.request.completion(.success(p.range)) }
        markFile?.record(last)
        return nil
    }

    /// A write that stopped short: the frames that reached the file whole are kept (synced, their callers
    /// told), the partial one cut, and the rest of `pending` fails with `error`.
    private func keepWhole(_ pending: [Pending], written: Int, error writeError: OutboxError) -> OutboxError {
        let kept = pending.prefix { $0.end <= written }
        let keepBytes = kept.last?.end ?? 0
        // What was cut may be written again at the same offsets: under a new epoch (FORMAT.md §10).
        newEpoch()
        do {
            try active.truncate(to: active.writeOffset + Int64(keepBytes))
            try active.file.dataSync()
        } catch let e as OutboxError {
            return failStop(e, pending)
        } catch { return failStop(OutboxError(.io, "\(error)"), pending) }
        active.writeOffset += Int64(keepBytes)
        active.frames += UInt32(kept.count)
        for p in kept { active.lanes |= p.request.lanes }
        if let last = kept.last { nextSeq = last.range.upperBound + 1 }
        logger.error("append failed; nothing acknowledged was lost", metadata: ["error": "\(writeError)"])
        if let last = kept.last { listener?.durable(through: last.range.upperBound) }
        for p in pending {
            if p.end <= keepBytes { p.request.completion(.success(p.range)) } else { p.request.completion(.failure(writeError)) }
        }
        if let last = kept.last { markFile?.record(last.range.upperBound) }
        return writeError
    }

    private func failStop(_ error: OutboxError, _ pending: [Pending]) -> OutboxError {
        failure = error
        sealPlan.expect(nil)
        logger.critical("outbox stopped accepting appends until reopened", metadata: ["error": "\(error)"])
        for p in pending { p.request.completion(.failure(error)) }
        return error
    }

    static func stopped(_ failure: OutboxError) -> OutboxError {
        OutboxError(.failedStop, "the outbox stopped after an earlier failure; reopen it", cause: failure)
    }

    /// Seals the active segment (trimmed to its frames, its seal written after them, fsync) and starts a
    /// new one at ``nextSeq``: temporary file, header, fsync, rename, directory fsync. Returns the error if
    /// it failed.
    private func roll() -> OutboxError? {
        sealPlan.expect(nil)  // the places it gave are in this segment
        // The key first: a retired one or a keyring that cannot be written refuses the commit, and leaves
        // the active segment as it was.
        do { try chooseKey() } catch let e as OutboxError {
            return e.code == .syncFailed ? failStop(e, []) : e
        } catch { return OutboxError(.io, "\(error)") }
        do {
            try active.trimAllocation()
            if let noRoom = try active.writeSeal(end: nextSeq, logger: logger) { return noRoom }
            try active.file.sync()
        } catch let e as OutboxError {
            return failStop(e, [])
        } catch { return failStop(OutboxError(.io, "\(error)"), []) }
        var header = FileHeader(kind: .segment, outboxID: outboxID, base: nextSeq, maxRecordSize: maxRecordSize,
                                createdAtMicros: OutboxMessage.micros(Date()))
        if directory.keys != nil { header = header.encrypting() }
        do {
            let newFile = try directory.createFile(FileNames.segment(nextSeq), contents: [header.encode()])
            logger.debug("rolled to a new segment", metadata: ["file": "\(newFile.path)"])
            budget.rolled(past: active.writeOffset)  // the sealed segment is one of the others now
            active = ActiveSegment(new: newFile, header: header)
            epochExposed = false
            return nil
        } catch let e as OutboxError {
            if e.code == .syncFailed { return failStop(e, []) }
            return e
        } catch { return OutboxError(.io, "\(error)") }
    }

    /// Takes the current key to encrypt with from now on (keys from a file look at it again first: a
    /// rotated file's new first key applies from here), after the keyring names it durably; refuses a
    /// retired key (``OutboxError/Code/retiredKey``). At open, and when a segment is started.
    func chooseKey() throws {
        guard let keys = directory.keys else { return }
        do { try keys.reload() } catch {
            logger.warning("the key file changed and cannot be read: the keys read before are kept", metadata: ["error": "\(error)"])
        }
        let key = keys.current
        guard key.id != sealingKey?.id else { return }
        try Keyring.noteInUse(key.id, in: directory, logger: logger)
        if let old = sealingKey { logger.info("new segments are encrypted with the new current key", metadata: ["key": "\(key.id)", "previous": "\(old.id)"]) }
        sealingKey = key
    }

    /// Marks `range` lost: numbers above what recovery found that other files show were used
    /// (`NumberEvidence`), given to hole frames at the end of the active segment (durably: write,
    /// `fdatasync`) so that they are never given to new messages (FORMAT.md §8). Called at open, before
    /// the first commit.
    func markLost(_ range: ClosedRange<UInt64>, note: String) throws {
        precondition(range.lowerBound == nextSeq, "holes continue the numbers")
        if active.sealed, let error = roll() { throw error }
        let holes = SegmentSalvage.holeFrames(range, identity: active.identity, offset: active.writeOffset, note: note, tag: active.tag)
        let bytes = holes.flatMap { $0 }
        active.allocate(through: active.writeOffset + Int64(bytes.count), limit: budget.allocationLimit(segmentSize: segmentSize))
        try active.file.write(bytes, at: active.writeOffset)
        try active.file.dataSync()
        active.writeOffset += Int64(bytes.count)
        active.frames += UInt32(holes.count)
        nextSeq = range.upperBound + 1
    }

    /// Trims the space allocated ahead of the active segment's frames and fsyncs it (at close: a closed
    /// outbox's files end with their last frame).
    func syncForClose() throws {
        guard failure == nil else { return }
        try active.trimAllocation()
        try active.file.sync()
    }
}
