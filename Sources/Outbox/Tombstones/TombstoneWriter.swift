import Foundation
import Logging

/// The single writer of an outbox's tombstone files. Lives on the group-commit thread after ``open``.
final class TombstoneWriter {
    enum Request {
        /// Frames to write, group-committed with the records next to it.
        case record(TombstoneRecord, (Result<Void, OutboxError>) -> Void)
        /// Routes the relay no longer has: what they finished is let go (from the next checkpoint on).
        case forget(routes: [String], (Result<Void, OutboxError>) -> Void)
        case compact(forceCheckpoint: Bool, (Result<CompactionReport, OutboxError>) -> Void)

        var weight: Int {
            switch self {
            case .record(let record, _): record.weight
            case .forget, .compact: 0
            }
        }
    }

    let directory: OutboxDirectory
    let logger: Logger
    let outboxID: OutboxID
    let maxRecordSize: UInt32
    private(set) var file: OutboxFile
    private(set) var name: String
    private(set) var generation: UInt64
    private(set) var writeOffset: Int64
    /// The active file's format version: expired ranges (kind 8) go only into a file of version 2 or
    /// later, route frames (kinds 11 to 13) only into one of version 5 or later.
    private var fileVersion: UInt16
    private(set) var failure: OutboxError?
    /// Checkpoint when the active file is larger than this and than twice the checkpoint it would write.
    let checkpointBytes: Int64
    private let published: Shared<TombstoneSnapshot>
    private var snapshot: TombstoneSnapshot
    private var buffer: [UInt8] = []

    private init(directory: OutboxDirectory, logger: Logger, outboxID: OutboxID, maxRecordSize: UInt32,
                 active: TombstoneFile, checkpointBytes: Int64, shared: Shared<TombstoneSnapshot>) {
        self.directory = directory
        self.logger = logger
        self.outboxID = outboxID
        self.maxRecordSize = maxRecordSize
        self.file = active.file
        self.name = active.name
        self.generation = active.generation
        self.writeOffset = active.end
        self.fileVersion = active.header.version
        self.snapshot = active.snapshot
        self.checkpointBytes = checkpointBytes
        self.published = shared
        shared.set(active.snapshot)
    }

    /// Opens the tombstones for writing (the caller holds the relay lock): removes leftover temporary
    /// files and superseded generations, truncates a torn tail of the active file, creates generation 1
    /// of a new outbox.
    ///
    /// With ``DamagePolicy/quarantine``, a damaged active tombstone file goes to `quarantine/` and a copy
    /// of its valid frames takes its place (the messages whose tombstones were lost are published again).
    static func open(directory: OutboxDirectory, outboxID: OutboxID, logger: Logger, checkpointBytes: Int64,
                     shared: Shared<TombstoneSnapshot>, onDamage: DamagePolicy = .refuse) throws -> TombstoneWriter {
        let listing = try FileNames.list(directory)
        guard let last = listing.segments.last else {
            throw OutboxError(.notAnOutbox, "no outbox here (no segment files)", path: directory.path)
        }
        let segment = try SegmentFile.open(last.name, base: last.base, in: directory, expecting: outboxID)
        let id = segment.header.outboxID
        // The relay's own temporary files (the holder of relay.lock creates these): an interrupted create.
        let relayFiles = [FileNames.tombstonePrefix, FileNames.deadLetters, FileNames.relayStatus, FileNames.uplinkPrefix]
            .map { OutboxDirectory.temporaryPrefix + $0 }
        // (A status a killed relay was writing is left as `relay-status.json.new`: written over next time.)
        for name in listing.temporary where relayFiles.contains(where: { name.hasPrefix($0) }) {
            logger.notice("removing leftover temporary file", metadata: ["file": "\(directory.pathOf(name))"])
            try directory.remove(name)
            try directory.syncDirectory()
        }
        let active: TombstoneFile
        if let newest = listing.tombstones.last {
            do {
                active = try TombstoneFile.load(newest.name, generation: newest.generation, in: directory, outboxID: id,
                                                writable: true, tail: .truncate(logger))
            } catch let e as OutboxError where onDamage == .quarantine && e.code == .corrupt {
                let action = try SegmentSalvage.rebuildOther(newest.name, kind: .tombstones, base: newest.generation, reference: id,
                                                             in: directory, keep: .quarantine(reason: e.message, offset: e.offset))
                SegmentSalvage.report(quarantined: newest.name, because: e, action: action, lost: SequenceRangeSet(), in: directory, logger: logger)
                active = try TombstoneFile.load(newest.name, generation: newest.generation, in: directory, outboxID: id,
                                                writable: true, tail: .truncate(logger))
            }
            let older = listing.tombstones.dropLast()
            for o in older {
                logger.notice("removing superseded tombstone file", metadata: ["file": "\(directory.pathOf(o.name))"])
                try directory.remove(o.name)
            }
            if !older.isEmpty { try directory.syncDirectory() }
        } else {
            let header = FileHeader(kind: .tombstones, outboxID: id, base: 1, maxRecordSize: segment.header.maxRecordSize,
                                    createdAtMicros: OutboxMessage.micros(Date()))
            let name = FileNames.tombstones(1)
            _ = try directory.createFile(name, contents: [header.encode()])
            active = try TombstoneFile.load(name, generation: 1, in: directory, outboxID: id, writable: true, tail: .refuse)
        }
        return TombstoneWriter(directory: directory, logger: logger, outboxID: id, maxRecordSize: active.header.maxRecordSize,
                               active: active, checkpointBytes: checkpointBytes, shared: shared)
    }

    private var identity: FileIdentity { FileIdentity(outboxID: outboxID, base: generation) }

    func process(_ batch: [Request]) {
        var i = 0
        while i < batch.count {
            // Group consecutive records into one write and one fdatasync.
            var records: [(TombstoneRecord, (Result<Void, OutboxError>) -> Void)] = []
            while i < batch.count, case .record(let record, let done) = batch[i] {
                records.append((record, done))
                i += 1
            }
            if !records.isEmpty { commit(records) }
            guard i < batch.count else { break }
            switch batch[i] {
            case .compact(let force, let done):
                done(compact(forceCheckpoint: force))
            case .forget(let routes, let done):
                for r in routes { snapshot.routes.removeValue(forKey: r) }
                published.set(snapshot)
                done(.success(()))
            case .record:
                break
            }
            i += 1
        }
    }

    private func commit(_ records: [(TombstoneRecord, (Result<Void, OutboxError>) -> Void)]) {
        if let failure {
            for r in records { r.1(.failure(SegmentWriter.stopped(failure))) }
            return
        }
        let merged = TombstoneRecord.Merged(records.map(\.0))
        // An older file (written by an older build) cannot hold the newer kinds: a checkpoint first moves
        // the set into a file of the current version (FORMAT.md §9).
        if merged.minimumVersion > fileVersion, case .failure(let e) = compact(forceCheckpoint: true) {
            for r in records { r.1(.failure(e)) }
            return
        }
        buffer = merged.frames(maxBody: Int(maxRecordSize), identity: identity, offset: writeOffset,
                               tag: FrameHeader.writeTag(start: writeOffset, version: fileVersion))
        let (_, writeError) = buffer.withUnsafeBytes { file.writeAll($0, at: writeOffset) }
        do {
            if let writeError {
                // Cut what reached the file; nothing of this group is acknowledged.
                try file.truncate(to: writeOffset)
                try file.dataSync()
                for r in records { r.1(.failure(writeError)) }
                return
            }
            try file.dataSync()
        } catch {
            let e = error as? OutboxError ?? OutboxError(.io, "\(error)")
            failure = e
            logger.critical("tombstone log stopped until reopened", metadata: ["error": "\(e)"])
            for r in records { r.1(.failure(e)) }
            return
        }
        writeOffset += Int64(buffer.count)
        merged.apply(to: &snapshot)
        published.set(snapshot)
        for r in records { r.1(.success(())) }
    }

    /// Removes the sealed segments at the front of the log whose messages are all finished (their
    /// tombstones are already durable), then checkpoints the tombstone file if segments were removed, if
    /// it grew large, or if forced.
    private func compact(forceCheckpoint: Bool) -> Result<CompactionReport, OutboxError> {
        if let failure { return .failure(SegmentWriter.stopped(failure)) }
        var report = CompactionReport()
        do {
            let finished = snapshot.finished
            let segments = try FileNames.list(directory).segments
            if segments.count > 1 {
                for i in 0..<(segments.count - 1) {
                    let range = segments[i].base...(segments[i + 1].base - 1)
                    guard finished.contains(range) else { break }
                    // The writer may have dropped it (drop-oldest) in the meantime.
                    do { try directory.remove(segments[i].name) } catch let e as OutboxError where e.errno == ENOENT {}
                    report.removedSegments.append(segments[i].name)
                }
                if !report.removedSegments.isEmpty { try directory.syncDirectory() }
            }
            let frames = checkpointFrames(generation: generation + 1)
            let checkpointSize = Int64(FileHeader.size + frames.count)
            // A compaction that removed segments always checkpoints: the new generation's header then
            // records when the log was last compacted (`outbox stats`).
            if forceCheckpoint || !report.removedSegments.isEmpty
                || (writeOffset > checkpointBytes && writeOffset > 2 * checkpointSize) {
                let next = generation + 1
                let header = FileHeader(kind: .tombstones, outboxID: outboxID, base: next, maxRecordSize: maxRecordSize,
                                        createdAtMicros: OutboxMessage.micros(Date()))
                let newName = FileNames.tombstones(next)
                let newFile = try directory.createFile(newName, contents: [header.encode(), frames])
                try directory.remove(name)
                try directory.syncDirectory()
                file = newFile
                name = newName
                generation = next
                fileVersion = header.version
                writeOffset = checkpointSize
                report.checkpoint = newName
            }
            if !report.removedSegments.isEmpty || report.checkpoint != nil {
                logger.info("compacted", metadata: ["removedSegments": "\(report.removedSegments.count)",
                                                    "checkpoint": "\(report.checkpoint ?? "-")"])
            }
            return .success(report)
        } catch {
            let e = error as? OutboxError ?? OutboxError(.io, "\(error)")
            if e.code == .syncFailed {
                failure = e
                logger.critical("tombstone log stopped until reopened", metadata: ["error": "\(e)"])
            }
            return .failure(e)
        }
    }

    /// The frames of a checkpoint file of `generation`: the whole published set, then the dead set, the
    /// expired set and the unrouted set; then each route (by name): its start, and what it finished that
    /// the whole outbox has not.
    private func checkpointFrames(generation: UInt64) -> [UInt8] {
        let id = FileIdentity(outboxID: outboxID, base: generation)
        var records: [TombstoneRecord] = [.ranges(snapshot.published, .published), .ranges(snapshot.dead, .dead),
                                          .ranges(snapshot.expired, .expired), .ranges(snapshot.unrouted, .unrouted)]
        let finished = snapshot.finished
        for (name, progress) in snapshot.routes.sorted(by: { $0.key < $1.key }) {
            let own = progress.subtracting(finished)
            records += [.routeStart(name, progress.start), .route(name, own.published, status: .published),
                        .route(name, own.dead, status: .dead), .route(name, own.expired, status: .expired)]
        }
        // Created whole: one write from the first frame (FORMAT.md §3).
        return TombstoneRecord.Merged(records).frames(maxBody: Int(maxRecordSize), identity: id, offset: Int64(FileHeader.size),
                                                      tag: FrameHeader.writeTag(start: Int64(FileHeader.size), version: FileHeader.currentVersion))
    }

    func syncForClose() throws {
        if failure == nil { try file.sync() }
    }
}
