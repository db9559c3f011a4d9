import Foundation
import Logging

extension SegmentWriter {
    /// Opens the segments for writing (the caller holds the writer lock), creating the first segment
    /// of a new outbox.
    ///
    /// Recovery checks the active (last) segment in full (header, every frame's checksum and structure,
    /// sequence continuity), truncates its torn tail and refuses any other damage, or with
    /// ``DamagePolicy/quarantine`` quarantines it (``SegmentQuarantine``); a sealed segment is checked by
    /// its header and its seal (FORMAT.md §3a, §7), in full only when it has none. Message bodies are
    /// decoded where they are read, not at open, so open takes the time of reading one segment whatever
    /// the backlog.
    static func recover(directory: OutboxDirectory, configuration: OutboxConfiguration, logger: Logger,
                        listener: CommitListener? = nil) throws -> SegmentWriter {
        let quarantine = configuration.onDamage == .quarantine ? SegmentQuarantine(directory, scope: .atOpen, logger: logger) : nil
        while true {
            do {
                let writer = try recoverOnce(directory: directory, configuration: configuration, logger: logger,
                                             reporter: quarantine?.reporter ?? .refuse, listener: listener)
                // The writer is the only writer of dropped.log: a torn tail of a crash is cut now.
                _ = try DroppedLog.read(in: directory, outboxID: writer.outboxID, repairing: true)
                try writer.applyBudget(configuration)
                return writer
            } catch is SegmentChain.Retry {
                continue  // a segment was quarantined: recover again
            }
        }
    }

    private static func recoverOnce(directory: OutboxDirectory, configuration: OutboxConfiguration, logger: Logger,
                                    reporter: DamageReporter, listener: CommitListener?) throws -> SegmentWriter {
        let listing = try FileNames.list(directory)
        for name in listing.temporary where name.hasPrefix(OutboxDirectory.temporaryPrefix + FileNames.segmentPrefix) {
            logger.notice("removing leftover temporary file", metadata: ["file": "\(directory.pathOf(name))"])
            try directory.remove(name)
            try directory.syncDirectory()
        }
        let segmentSize = Int64(configuration.segmentSize)
        guard !listing.segments.isEmpty else {
            return try create(directory: directory, configuration: configuration, logger: logger, listener: listener)
        }
        var chain = SegmentChain(directory, outboxID: ReferenceOutboxID.find(in: directory, listing), reporter: reporter)
        for (i, entry) in listing.segments.enumerated() {
            let isLast = i == listing.segments.count - 1
            let segment = try chain.enter(entry, writable: isLast)
            if !isLast, try chain.trustSeal(of: segment) { continue }
            var frames: UInt32 = 0
            var lanes: UInt64 = 0
            var lastKey: OutboxKeys.ID?
            let end = try chain.walk(segment, isLast ? .truncate(logger) : .refuse) { frame in
                frames += 1
                lanes |= LaneSummary.filter(kind: frame.header.kind, body: frame.body)
                if segment.header.encrypted, Envelope.sealsRecords(frame.header.kind),
                   let (_, key, _) = Envelope.peek(frame.body[Envelope.clearPrefix(frame.header.kind, frame.body)...]) { lastKey = key }
                return true
            }
            try chain.leave(segment, sealed: !isLast)
            let encrypt = directory.keys != nil
            if isLast, end == Int64(FileHeader.size), segment.scanner.seal == nil,
               segment.header.version < FileHeader.currentVersion || segment.header.encrypted != encrypt {
                // An empty segment of an older build (a header and nothing else, perhaps zeros), or one
                // encrypted when this writer is not (or the other way round): made a current one (same
                // outbox, base and name; temporary file, rename), so that it can hold what this build
                // writes (lanes, §4b; envelopes, §10).
                var header = segment.header
                header.version = FileHeader.currentVersion
                header.encrypted = false
                if encrypt { header = header.encrypting() }
                let file = try directory.createFile(entry.name, contents: [header.encode()])
                logger.info("made an empty segment of format version \(segment.header.version) a version \(header.version) one",
                            metadata: ["file": "\(file.path)"])
                return SegmentWriter(directory: directory, logger: logger, maxRecordSize: header.maxRecordSize, segmentSize: segmentSize,
                                     active: ActiveSegment(new: file, header: header), nextSeq: entry.base, listener: listener)
            }
            if isLast {
                let active = ActiveSegment(file: segment.file, outboxID: segment.header.outboxID, base: entry.base, writeOffset: end,
                                           allocatedEnd: try segment.file.size(), frames: frames, lanes: lanes,
                                           version: segment.header.version,
                                           sealed: segment.scanner.seal != nil, encrypted: segment.header.encrypted, lastKey: lastKey)
                return SegmentWriter(directory: directory, logger: logger, maxRecordSize: segment.header.maxRecordSize,
                                     segmentSize: segmentSize, active: active, nextSeq: chain.next ?? entry.base, listener: listener)
            }
        }
        fatalError("unreachable: the last segment returns")
    }

    /// A new outbox: its first segment, with a new outbox id.
    private static func create(directory: OutboxDirectory, configuration: OutboxConfiguration, logger: Logger,
                               listener: CommitListener?) throws -> SegmentWriter {
        let listing = try FileNames.list(directory)
        if let t = listing.tombstones.first {
            throw OutboxError(.corrupt, "tombstone file present but no segment: the segments are missing", path: directory.pathOf(t.name))
        }
        guard configuration.createIfMissing else {
            throw OutboxError(.notAnOutbox, "no outbox here (no segment files)", path: directory.path)
        }
        let id = OutboxID.random()
        var header = FileHeader(kind: .segment, outboxID: id, base: 1, maxRecordSize: UInt32(configuration.maxRecordSize),
                                createdAtMicros: OutboxMessage.micros(Date()))
        if directory.keys != nil { header = header.encrypting() }
        let file = try directory.createFile(FileNames.segment(1), contents: [header.encode()])
        logger.info("created outbox", metadata: ["path": "\(directory.path)", "id": "\(id)"])
        return SegmentWriter(directory: directory, logger: logger, maxRecordSize: header.maxRecordSize,
                             segmentSize: Int64(configuration.segmentSize), active: ActiveSegment(new: file, header: header),
                             nextSeq: 1, listener: listener)
    }
}
