import Logging

/// What one read of the outbox found for the queue.
struct RelayRead {
    /// New durable messages in sequence order, without the finished and dropped ones.
    var fresh: [StoredMessage] = []
    /// Every number the writer dropped (drop-oldest), when that changed since the last read: the queue
    /// lets go of them, even if read already.
    var dropped: SequenceRangeSet?
    /// The dead-letter file's size now (redrive requests are listed when it changed); nil when it was
    /// not looked at (the directory watch says it did not change).
    var deadLetterSize: Int64?
}

/// The relay's reading side: follows the log from the first unfinished number (``LogTail``), skips what
/// is finished or dropped, tombstones numbers lost to damage as dead, and with
/// ``DamagePolicy/quarantine`` sets a damaged sealed segment aside and reads on (the tail's reporter is a
/// ``SegmentQuarantine``).
final class RelayReadSide {
    private let env: RelayEnvironment
    private let tail: UnsafeTransfer<LogTail>
    /// The numbers the writer dropped, read again whenever `dropped.log` changed size.
    private var dropped = SequenceRangeSet()
    private var droppedSize: Int64 = 0

    /// What the directory watch says changed; nil without a watch (every read looks at every file).
    private let changes: RouteSignals?

    init(_ env: RelayEnvironment, from start: UInt64, changes: RouteSignals?) {
        self.env = env
        self.changes = changes
        let quarantine = env.configuration.onDamage == .quarantine
            ? SegmentQuarantine(env.directory, scope: .sealedOnly, logger: env.logger) : nil
        let tail = LogTail(directory: env.directory, outboxID: env.outboxID, from: start, reporter: quarantine?.reporter ?? .refuse)
        tail.durableThrough = env.writerDurableThrough
        self.tail = UnsafeTransfer(tail)
    }

    /// The next number the tail will read.
    var nextSeq: UInt64 { tail.value.nextSeq }

    /// `dropped.log` is read again at the next look, whatever its size (the sweep's fallback).
    func forgetDrops() { droppedSize = -1 }

    /// Reads up to `room` messages and `roomBytes` bytes (none when either is spent; the drops and the
    /// dead-letter file are looked at anyway, when the directory watch says they changed).
    func read(room: Int, roomBytes: Int) async throws -> RelayRead {
        let canRead = room > 0 && roomBytes > 0
        let finished = env.finished
        let (env, tail) = (env, tail)
        let look = changes?.takeChanges() ?? .all
        let (fresh, holes, size, droppedFileSize) = try await env.io.run {
            (canRead ? try Self.read(tail.value, limit: room, maxBytes: roomBytes) : [],
             tail.value.takeHoles(), look.contains(.deadLetters) ? try DeadLetterLog.size(in: env.directory) : nil,
             look.contains(.dropped) ? (try? env.directory.openFile(FileNames.dropped, writable: false).size()) ?? 0 : nil)
        }
        var found = RelayRead(deadLetterSize: size)
        // What the writer dropped to make room (drop-oldest) is never published, even if already read.
        if let droppedFileSize, droppedFileSize != droppedSize {
            droppedSize = droppedFileSize
            dropped = droppedFileSize == 0 ? SequenceRangeSet()
                : try await env.io.run { try DroppedLog.read(in: env.directory, outboxID: env.outboxID) }
            found.dropped = dropped
            env.metrics.dropped.record(dropped.count)
        }
        // What no route takes is finished for the outbox now, unrouted.
        let unmatched = env.tracker.unmatched(fresh)
        if !unmatched.isEmpty {
            try await env.tombstones.acknowledge(unmatched, as: .unrouted)
            env.metrics.unrouted.increment(by: unmatched.count)
        }
        // Usually none is finished, dropped or another route's: then the read is passed on as it is, not copied.
        let match = env.match
        let skip = { [dropped] (m: StoredMessage) in finished.contains(m.seq) || dropped.contains(m.seq) || !match.matches(m.message) }
        found.fresh = fresh.contains(where: skip) ? fresh.filter { !skip($0) } : fresh
        // Numbers lost to damage (holes a repair or a quarantine wrote) are finished as dead, with no
        // dead letter: `dead-letters list` and `dump` show them as lost.
        let lost = holes.subtracting(finished)
        if !lost.isEmpty {
            try await env.tombstones.acknowledge(lost.ranges.lazy.flatMap { $0 }, as: .dead)
            env.logger.warning("sequence numbers lost to damage are tombstoned as lost", metadata: ["seqs": "\(lost)"])
        }
        return found
    }

    /// Reads new messages from `tail`. With ``DamagePolicy/quarantine``, damage in a sealed segment (which
    /// the writer never touches again) is quarantined (``SegmentQuarantine``, the tail's reporter) and the
    /// read goes on with what it still holds; damage in the active segment is still an error.
    private static func read(_ tail: LogTail, limit: Int, maxBytes: Int) throws -> [StoredMessage] {
        while true {
            let start = tail.nextSeq
            do { return try tail.read(limit: limit, maxBytes: maxBytes) } catch is SegmentChain.Retry {
                tail.restart(from: start)
            }
        }
    }
}
