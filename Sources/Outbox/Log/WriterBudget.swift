import Foundation
import Logging
import Metrics

/// The writer's side of the disk budget (FORMAT.md §1b): what the outbox's other files take, whether a
/// commit fits, ``FullPolicy/dropOldest``, and the full episodes `stats` shows. Only the commit thread
/// touches it.
struct WriterBudget {
    private let directory: OutboxDirectory
    private let logger: Logger
    /// The disk budget, if the outbox has one.
    private(set) var budget: DiskBudget?
    /// The bytes of the outbox's files other than the active segment, as last counted, and when.
    private(set) var otherBytes: Int64 = 0
    private var counted: ContinuousClock.Instant?
    /// Whether the current group commit has recounted already.
    private var countedThisBatch = false
    /// Since when appends have been refused for want of room (the current full episode), if they are.
    private(set) var fullSince: Date?
    /// What ``FullPolicy/dropOldest`` dropped since the last commit that fit without dropping.
    private(set) var droppedInEpisode = SequenceRangeSet()

    init(directory: OutboxDirectory, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    /// Sets (``OutboxConfiguration/maxDiskBytes``) or reads the persisted budget; returns the segment
    /// size it allows.
    mutating func apply(_ configuration: OutboxConfiguration, segmentSize: Int64, active: ActiveSegment) throws -> Int64 {
        let persisted = try DiskBudget.read(in: directory)
        if let wanted = configuration.maxDiskBytes {
            budget = wanted > 0 ? DiskBudget(maxBytes: wanted, onFull: configuration.onFull ?? persisted?.onFull ?? .reject) : nil
        } else {
            budget = persisted
            if let onFull = configuration.onFull { budget?.onFull = onFull }
        }
        if persisted != budget { try DiskBudget.write(budget, in: directory) }
        guard let budget else { return segmentSize }
        try count(active)
        logger.debug("disk budget", metadata: ["maxBytes": "\(budget.maxBytes)", "used": "\(otherBytes + active.allocatedEnd)"])
        return Int64(budget.segmentSize(configured: Int(segmentSize)))
    }

    /// A new group commit begins: it may recount once.
    mutating func beginBatch() { countedThisBatch = false }

    /// The sealed segment is one of the other files now.
    mutating func rolled(past sealedBytes: Int64) { otherBytes += sealedBytes }

    /// The most the active segment may be allocated to.
    func allocationLimit(segmentSize: Int64) -> Int64 {
        guard let budget else { return segmentSize }
        return min(segmentSize, budget.appendLimit - otherBytes)
    }

    /// Whether `bytes` more fit; with ``FullPolicy/dropOldest``, drops the oldest sealed segments until
    /// they do. A commit that does not fit starts (or continues) a full episode.
    mutating func makeRoom(_ bytes: Int64, active: ActiveSegment, segmentSize: Int64, outboxID: OutboxID, maxRecordSize: UInt32) -> Bool {
        guard let budget else { return true }
        if fits(bytes, active: active, segmentSize: segmentSize) { return true }
        return budget.onFull == .dropOldest && dropOldest(toFit: bytes, active: active, outboxID: outboxID, maxRecordSize: maxRecordSize)
    }

    /// Whether `bytes` more fit the budget; recounts the other files first, at most once per group
    /// commit, when the answer could change (near the limit, or when the count is half a second old), so
    /// that room the relay freed is seen.
    private mutating func fits(_ bytes: Int64, active: ActiveSegment, segmentSize: Int64) -> Bool {
        guard let budget else { return true }
        let limit = budget.appendLimit
        let near = otherBytes + active.bytes(adding: bytes) > limit - max(segmentSize, budget.maxBytes / 8)
        if !countedThisBatch, near || counted.map({ ContinuousClock.now - $0 > .milliseconds(500) }) ?? true {
            try? count(active)
            countedThisBatch = true
        }
        return otherBytes + active.bytes(adding: bytes) <= limit
    }

    /// Counts the bytes of every file but the active segment (whose size the writer knows).
    private mutating func count(_ active: ActiveSegment) throws {
        otherBytes = try DiskBudget.usage(of: directory) - (try active.file.size())
        counted = .now
    }

    /// ``FullPolicy/dropOldest``: removes the oldest sealed segments, one at a time, until `bytes` more
    /// fit, first recording the numbers each held in `dropped.log` (durably). False when even removing
    /// every sealed segment would not make room.
    private mutating func dropOldest(toFit bytes: Int64, active: ActiveSegment, outboxID: OutboxID, maxRecordSize: UInt32) -> Bool {
        guard let budget else { return false }
        do {
            while true {
                try count(active)
                if otherBytes + active.bytes(adding: bytes) <= budget.appendLimit { return true }
                let segments = try FileNames.list(directory).segments
                guard segments.count >= 2 else { return false }  // only the active segment is left
                let sealed = zip(segments, segments.dropFirst()).map { (name: $0.name, base: $0.base, end: $1.base) }
                // The lowest lane first (FORMAT.md §1b): a segment goes whole, or is rewritten without them.
                guard let step = try LaneDrop.next(sealed, in: directory) else { return false }
                var range = SequenceRangeSet()
                switch step {
                case .whole(let name, let numbers):
                    range.insert(numbers)
                    try DroppedLog.append(range, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
                    do { try directory.remove(name) } catch let e as OutboxError where e.errno == ENOENT {}  // compacted meanwhile
                    try directory.syncDirectory()
                case .rewrite(let name, let contents, let dropped):
                    range = dropped
                    try DroppedLog.append(range, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
                    _ = try directory.createFile(name, contents: [contents])
                }
                if droppedInEpisode.isEmpty {
                    logger.debug("the outbox is full: dropping the oldest messages to make room (drop-oldest)", metadata: [
                        "budget": "\(budget.maxBytes)"])
                }
                droppedInEpisode.formUnion(range)
                Counter(label: "outbox_dropped_total", dimensions: [("outbox", directory.path)]).increment(by: Int(range.count))
            }
        } catch {
            logger.error("cannot drop the oldest messages", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// A commit went in after drops: they are logged once, as one range set.
    mutating func reportDrops() {
        guard !droppedInEpisode.isEmpty else { return }
        logger.warning("dropped the oldest messages to make room: they will never be published", metadata: [
            "seqs": "\(droppedInEpisode)", "count": "\(droppedInEpisode.count)"])
        droppedInEpisode = SequenceRangeSet()
    }

    /// Notes the start or the end of a full episode: logged once each way, and written to
    /// `writer-status.json` for `stats`.
    mutating func setFull(_ full: Bool, active: ActiveSegment) {
        guard full != (fullSince != nil) else { return }
        fullSince = full ? Date() : nil
        if full {
            logger.info("the outbox is full: appends are refused until a relay frees room", metadata: [
                "used": "\(otherBytes + active.allocatedEnd)", "budget": "\(budget?.maxBytes ?? 0)"])
        } else {
            logger.info("the outbox has room again: appends succeed")
        }
        try? WriterStatusFile(pid: getpid(), fullSinceMicros: fullSince.map(OutboxMessage.micros)).write(in: directory)
    }

    /// The error of a commit of `bytes` that does not fit.
    func fullError(_ bytes: Int64, active: ActiveSegment) -> OutboxError {
        let used = otherBytes + active.allocatedEnd
        return OutboxError(.outboxFull, "the outbox is full: \(used) bytes used of its \(budget?.maxBytes ?? 0)-byte disk budget, whose last "
                           + "\(budget?.reserveBytes ?? 0) bytes are kept for the relay's tombstones; a commit of \(bytes) bytes does not fit "
                           + "(appends succeed again once a relay publishes and compacts)", path: directory.path)
    }
}
