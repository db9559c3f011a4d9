#if canImport(Glibc)
import Glibc
#endif

/// Damage a walk of the segment chain found, in the segment it names (the walk knows the segment: no
/// code reads a file name back out of an error).
package struct SegmentDamage: Error {
    /// The damaged segment.
    let name: String
    let base: UInt64
    /// Whether the damage is the break between this segment and the one before it (a sequence gap or
    /// overlap at its start), not in its own bytes.
    let atStart: Bool
    /// What is wrong, naming the file and offset (``OutboxError/Code/corrupt``).
    let error: OutboxError
}

/// What a walk of the segment chain does with damage (LevelDB's `log::Reader::Reporter` shape): the
/// caller passes its policy in, and the walk calls it with the segment it found damaged.
package struct DamageReporter {
    /// Handles damage: throws to stop the walk, or returns when it made the damage go away (a segment
    /// quarantined and replaced), and the walk is then begun again (``SegmentChain/Retry``).
    let handle: (SegmentDamage) throws -> Void

    /// Damage is an error: the walk throws it (``OutboxError/Code/corrupt``).
    static var refuse: DamageReporter { DamageReporter { throw $0.error } }
}

/// The one walk over an outbox's chain of segments (FORMAT.md §3, §3a, §7): it opens each segment (its
/// header, its outbox id), checks that it starts where the one before ended, walks its frames (each
/// checked, each following the one before) and checks its end (its seal agrees with its frames; a
/// sealed segment of version 4 on has one). Open's recovery, the readers, the relay's tail and salvage
/// all walk with it; what happens to damage is the ``DamageReporter`` passed in.
///
/// Its parts can be used one by one (``enter(_:writable:)``, ``walk(_:_:_:)``, ``leave(_:sealed:)``)
/// by a walk that goes at its own pace (the relay's tail), or as a whole (``walk(from:_:)``).
package struct SegmentChain {
    /// Thrown after the reporter repaired damage: the caller walks again from where it began.
    package struct Retry: Error {}

    let directory: OutboxDirectory
    /// The outbox every segment must belong to (nil: whatever the first one says).
    let outboxID: OutboxID?
    let reporter: DamageReporter
    /// The numbers followed so far (the listing walk also resets them after damage).
    var continuity = SequenceContinuity()
    /// The previous segment, when it was taken at its seal's word (open's shortcut): if the next one
    /// does not follow it, the damage may be in it, and it is walked in full to find out.
    private var trustedSeal: (base: UInt64, name: String)?

    init(_ directory: OutboxDirectory, outboxID: OutboxID?, reporter: DamageReporter = .refuse) {
        self.directory = directory
        self.outboxID = outboxID
        self.reporter = reporter
    }

    /// The sequence number the next frame must start at, once known.
    var next: UInt64? { continuity.next }

    /// Opens segment `entry` and checks that it starts where the chain walked so far ended.
    mutating func enter(_ entry: (base: UInt64, name: String), writable: Bool = false) throws -> SegmentFile {
        let segment = try Self.reporting(reporter, entry) { try SegmentFile.open(entry.name, base: entry.base, in: directory, writable: writable, expecting: outboxID) }
        do { try continuity.checkSegment(base: entry.base, path: segment.file.path) } catch let e as OutboxError {
            // The segment before was taken at its seal's word: if its seal disagrees with its own frames,
            // the damage is there (at the seal), not in this one.
            if let previous = trustedSeal { try Self.checkSealed(previous, in: directory, outboxID: outboxID, reporter: reporter) }
            try reporter.handle(SegmentDamage(name: entry.name, base: entry.base, atStart: true, error: e))
            throw Retry()
        }
        trustedSeal = nil
        return segment
    }

    /// Checks that segment `entry`, which comes next, starts where the chain walked so far ended, without
    /// opening it (a walk that stops at the end of a sealed segment).
    mutating func expect(_ entry: (base: UInt64, name: String)) throws {
        do { try continuity.checkSegment(base: entry.base, path: directory.pathOf(entry.name)) } catch let e as OutboxError {
            try reporter.handle(SegmentDamage(name: entry.name, base: entry.base, atStart: true, error: e))
            throw Retry()
        }
    }

    /// Walks `segment`'s frames from its scanner's offset, each one checked to follow the one before,
    /// calling `body` until it returns false; a torn tail is handled as `policy` says. Returns where the
    /// next frame would start.
    @discardableResult
    mutating func walk(_ segment: SegmentFile, _ policy: RecoveryPolicy, _ body: (Frame) throws -> Bool = { _ in true }) throws -> Int64 {
        try Self.reporting(reporter, (segment.header.base, segment.name)) {
            try policy.walk(segment.scanner) { frame in
                try continuity.checkFrame(frame, path: segment.file.path)
                return try body(frame)
            }
        }
    }

    /// Checks the end of a segment walked to its end (``SegmentFile/checkEnd(_:sealed:)``).
    func leave(_ segment: SegmentFile, sealed: Bool) throws {
        try Self.reporting(reporter, (segment.header.base, segment.name)) { try segment.checkEnd(continuity, sealed: sealed) }
    }

    /// Open's shortcut (FORMAT.md §7): a sealed segment whose seal checks out is taken at its word, its
    /// frames checked when they are read and by `verify`, so open does not grow with the backlog. False
    /// when it has no such seal (it must be walked).
    mutating func trustSeal(of segment: SegmentFile) throws -> Bool {
        guard let seal = try segment.scanner.sealAtEnd(), seal.end > segment.header.base else { return false }
        continuity.skip(to: seal)
        trustedSeal = (segment.header.base, segment.name)
        return true
    }

    /// The previous segment is unknown (removed by compaction while being read).
    mutating func forget() { continuity.forget() }

    /// Walks the frames holding sequence numbers from `from` on, segment by segment, calling `body` until
    /// it returns false; the last segment's tail may be a commit in progress (the walk stops before it).
    ///
    /// Live-safe: a segment that compaction removes after it was listed is skipped (compaction removes
    /// only segments whose every message is finished, and only from the front). If the segment that was
    /// last when listed is gone, the writer has rolled past it since: the walk lists again and goes on.
    mutating func walk(from: UInt64, _ body: (SegmentFile, Frame) throws -> Bool) throws {
        var segments = try FileNames.list(directory).segments[...]
        while let entry = segments.first {
            segments = segments.dropFirst()
            let isLast = segments.isEmpty
            if let next = segments.first, next.base <= from { continue }
            let segment: SegmentFile
            do { segment = try enter(entry) } catch let e as OutboxError where e.errno == ENOENT {
                if isLast { segments = try FileNames.list(directory).segments.filter { $0.base > entry.base }[...] }
                forget()
                continue
            }
            var stop = false
            try walk(segment, isLast ? .stop : .refuse) { frame in
                if frame.header.first + UInt64(frame.header.count) <= from { return true }
                stop = try !body(segment, frame)
                return !stop
            }
            if stop { return }
            try leave(segment, sealed: !isLast)
        }
    }

    /// Walks sealed segment `entry` in full (every frame, its numbers, its seal).
    static func checkSealed(_ entry: (base: UInt64, name: String), in directory: OutboxDirectory, outboxID: OutboxID?,
                            reporter: DamageReporter = .refuse) throws {
        var chain = SegmentChain(directory, outboxID: outboxID, reporter: reporter)
        let segment = try chain.enter(entry)
        try chain.walk(segment, .refuse)
        try chain.leave(segment, sealed: true)
    }

    private static func reporting<T>(_ reporter: DamageReporter, _ entry: (base: UInt64, name: String), _ work: () throws -> T) throws -> T {
        do { return try work() } catch let e as OutboxError where e.code == .corrupt {
            try reporter.handle(SegmentDamage(name: entry.name, base: entry.base, atStart: false, error: e))
            throw Retry()
        }
    }
}
