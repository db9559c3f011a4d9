import Foundation

/// Reads an outbox without taking any lock: safe while a writer appends and a relay compacts.
///
/// **What it serves:** only frames whose checksum matches. At the end of the active segment a frame
/// that is incomplete (a commit still being written) ends the read quietly; damage anywhere else throws
/// ``OutboxError/Code/corrupt`` naming the file and offset. A segment removed by compaction while it
/// is being read is skipped (all its messages were finished).
///
/// **Ordered how:** messages come in sequence order.
public final class OutboxReader: Sendable {
    public let path: String
    public let outboxID: OutboxID
    /// The opened outbox it reads.
    public let opened: OpenedOutbox
    let directory: OutboxDirectory

    /// Opens the outbox at `path` for reading. Throws ``OutboxError/Code/notAnOutbox`` when there is none.
    /// With `keys`, encrypted segments are read with them (FORMAT.md §10).
    public convenience init(path: String, keys: OutboxKeys? = nil) throws {
        try self.init(OpenedOutbox(path: path, keys: keys))
    }

    package convenience init(path: String, sys: any SystemCalls) throws {
        try self.init(OpenedOutbox(path: path, sys: sys))
    }

    /// A reader of an outbox opened already (its directory and identity are not looked up again).
    public init(_ outbox: OpenedOutbox) {
        opened = outbox
        path = outbox.path
        outboxID = outbox.id
        directory = outbox.directory
    }

    /// The finished sequence numbers (published and dead) as the tombstone files say now.
    public func tombstones() throws -> TombstoneSnapshot {
        try TombstoneFile.read(in: directory, outboxID: outboxID).0
    }

    /// Calls `body` with every stored message from sequence number `from` on, in order, until it returns
    /// false.
    public func forEachMessage(from: UInt64 = 1, _ body: (StoredMessage) throws -> Bool) throws {
        try forEachFrame(from: from) { segment, frame in
            for stored in try segment.messages(in: frame, from: from) {
                if try !body(stored) { return false }
            }
            return true
        }
    }

    /// Up to `limit` stored messages from `from` on.
    public func messages(from: UInt64 = 1, limit: Int = .max) throws -> [StoredMessage] {
        var out: [StoredMessage] = []
        guard limit > 0 else { return out }
        try forEachMessage(from: from) { m in
            out.append(m)
            return out.count < limit
        }
        return out
    }

    /// Up to `limit` messages from `from` on that `tombstones` does not finish, in sequence order.
    public func pendingMessages(from: UInt64 = 1, limit: Int = .max, tombstones: TombstoneSnapshot? = nil) throws -> [StoredMessage] {
        let finished = try (tombstones ?? self.tombstones()).finished
        var out: [StoredMessage] = []
        guard limit > 0 else { return out }
        try forEachMessage(from: finished.firstMissing(from: from)) { m in
            if !finished.contains(m.seq) { out.append(m) }
            return out.count < limit
        }
        return out
    }

    /// Walks the frames holding sequence numbers from `from` on, segment by segment
    /// (``SegmentChain/walk(from:_:)``: live-safe; never skips: a gap, an overlap or damage throws
    /// ``OutboxError/Code/corrupt`` naming the file and offset, as open does).
    func forEachFrame(from: UInt64, _ body: (SegmentFile, Frame) throws -> Bool) throws {
        var chain = SegmentChain(directory, outboxID: outboxID)
        try chain.walk(from: from, body)
    }

    /// The names of the outbox's segment files, oldest first.
    public func segmentNames() throws -> [String] { try FileNames.list(directory).segments.map(\.name) }

    /// Counts and ages (see ``OutboxStats``), ages measured at `now` from each message's commit clock
    /// (``StoredMessage/ageMicros(at:)``).
    public func stats(now: ClockReading = OutboxClock.system.now()) throws -> OutboxStats {
        try stats(now: now, lastSeq: nil)
    }

    /// ``stats(now:)``; with `perRoute`, each route of a running relay of several routes also gets what
    /// it has pending (``OutboxStats/Route/pending``, its oldest): one walk of the pending messages; with
    /// `perLane`, each lane too (``OutboxStats/lanes``: another walk).
    public func stats(now: ClockReading = OutboxClock.system.now(), perRoute: Bool, perLane: Bool = false) throws -> OutboxStats {
        var s = try stats(now: now, lastSeq: nil)
        if perLane {
            s.lanes = try laneBacklogs(now: now).map {
                OutboxStats.Lane(name: $0.lane, pending: $0.backlog.pending, oldestPendingSeq: $0.backlog.oldestSeq,
                                 oldestPendingAgeSeconds: $0.backlog.oldestAgeSeconds)
            }
        }
        guard perRoute, !s.routes.isEmpty, let status = RelayStatusFile.read(in: directory, holder: s.relayPid) else { return s }
        let backlogs = try routeBacklogs(status.routes.map { ($0.name, $0.match) }, now: now)
        for i in s.routes.indices {
            let b = backlogs[s.routes[i].name] ?? RouteBacklog()
            s.routes[i].pending = b.pending
            (s.routes[i].oldestPendingSeq, s.routes[i].oldestPendingAgeSeconds) = (b.oldestSeq, b.oldestAgeSeconds)
        }
        return s
    }

    /// ``stats(now:)``, where a caller that knows the last committed number (a relay: the writer's
    /// durable mark, and what it read) spares the walk of the active segment that finds it otherwise.
    package func stats(now: ClockReading = OutboxClock.system.now(), lastSeq known: UInt64?) throws -> OutboxStats {
        let listing = try FileNames.list(directory)
        var s = OutboxStats()
        s.segments = listing.segments.count
        s.tombstoneFiles = listing.tombstones.count
        s.quarantinedFiles = QuarantinedFile.list(in: directory).count
        s.usedBytes = (try? DiskBudget.usage(of: directory)) ?? s.bytesOnDisk
        s.maxDiskBytes = try DiskBudget.read(in: directory)?.maxBytes
        for name in listing.segments.map(\.name) + listing.tombstones.map(\.name) {
            if let f = try? directory.openFile(name, writable: false), let size = try? f.size() { s.bytesOnDisk += size }
        }
        guard let last = listing.segments.last, let first = listing.segments.first else { return s }
        var lastSeq = last.base - 1
        if let known, known >= last.base - 1 {
            lastSeq = known
        } else {
            var chain = SegmentChain(directory, outboxID: outboxID)
            let segment = try chain.enter(last)
            try chain.walk(segment, .stop) { frame in
                lastSeq = frame.header.first + UInt64(frame.header.count) - 1
                return true
            }
        }
        let (tombstones, active) = try TombstoneFile.read(in: directory, outboxID: outboxID)
        if let active, active.generation > 1 { s.lastCompactionMicros = active.header.createdAtMicros }
        s.lastSeq = lastSeq
        s.firstSeq = first.base
        if lastSeq >= 1 {
            s.published = tombstones.published.count(in: 1...lastSeq)
            // A number in several sets counts once: published, then dead, expired, unrouted, dropped (FORMAT.md §5).
            let dead = tombstones.dead.subtracting(tombstones.published)
            var publishedOrDead = tombstones.published
            publishedOrDead.formUnion(dead)
            s.dead = dead.count(in: 1...lastSeq)
            let expired = tombstones.expired.subtracting(publishedOrDead)
            s.expired = expired.count(in: 1...lastSeq)
            publishedOrDead.formUnion(expired)
            let unrouted = tombstones.unrouted.subtracting(publishedOrDead)
            s.unrouted = unrouted.count(in: 1...lastSeq)
            publishedOrDead.formUnion(unrouted)
            s.dropped = tombstones.dropped.subtracting(publishedOrDead).count(in: 1...lastSeq)
            s.pending = lastSeq - s.published - s.dead - s.expired - s.unrouted - s.dropped
            let oldest = tombstones.finished.firstMissing(from: first.base)
            if oldest <= lastSeq, let m = try messages(from: oldest, limit: 1).first {
                s.oldestPendingSeq = m.seq
                s.oldestPendingAgeSeconds = max(0, Double(m.ageMicros(at: now)) / 1e6)
            }
        }
        s.uplink = UplinkSpendFile.all(in: directory).map { f in
            let bounds = f.budget.bounds(of: now.wall)
            let current = OutboxMessage.micros(bounds.start) == f.periodStartMicros
            return OutboxStats.Uplink(route: f.route, budgetBytes: Int64(f.budget.bytes), period: f.budget.period.rawValue,
                                      spentBytes: current ? f.spentBytes : 0, resetsMicros: OutboxMessage.micros(bounds.end))
        }
        s.writerPid = FileLock.holder(FileLock.writerLockName, in: directory)
        s.fullSinceMicros = WriterStatusFile.read(in: directory, holder: s.writerPid)?.fullSinceMicros
        s.relayPid = FileLock.holder(FileLock.relayLockName, in: directory)
        if let status = RelayStatusFile.read(in: directory, holder: s.relayPid) {
            s.sinkReachable = status.sinkReachable
            s.sinkError = status.lastError
            s.sinkUnreachableSinceMicros = status.unreachableSinceMicros
            s.lastPublishMicros = status.lastPublishMicros
            s.routes = status.routes.map {
                OutboxStats.Route(name: $0.name, sinkReachable: $0.sinkReachable, sinkUnreachableSinceMicros: $0.unreachableSinceMicros,
                                  sinkError: $0.lastError, lastPublishMicros: $0.lastPublishMicros)
            }
        }
        return s
    }
}
