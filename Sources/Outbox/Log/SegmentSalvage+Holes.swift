import Foundation
import Logging
import Metrics

/// Holes (FORMAT.md §4a): numbers lost to damage, or missing from the log, given to hole frames so that
/// the numbering stays dense and they are never given again.
extension SegmentSalvage {
    /// Numbers above the end of the log that other files name (``NumberEvidence``): the active segment
    /// `name`, whose frames end at `end`, is replaced by a copy of its frames followed by a hole for
    /// `range` (the original kept as `NAME.broken`); or, if it ends with a seal (a roll was interrupted),
    /// a new segment holding the hole follows it. Returns what was done.
    package static func appendHole(_ range: ClosedRange<UInt64>, to name: String, at end: Int64, note: String,
                                   in directory: OutboxDirectory) throws -> String {
        let file = try directory.openFile(name, writable: false)
        guard let base = FileNames.parseSegment(name) else { throw OutboxError(.invalidArgument, "not a segment", path: file.path) }
        let header = try LogFile.checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: nil)
        let log = try LogFile.open(file, kind: .segment, base: base, outboxID: header.outboxID)
        if let seal = try log.scanner.sealAtEnd(), seal.end == range.lowerBound {
            let created = try holeSegment(range, template: header, in: directory, note: note)
            return "created \(created) holding a hole for sequence numbers \(range) (\(note))"
        }
        let identity = FileIdentity(outboxID: header.outboxID, base: base)
        let holes = holeFrames(range, identity: identity, offset: end, note: note, tag: FrameHeader.writeTag(start: end, version: header.version))
        var lost = SequenceRangeSet()
        lost.insert(range)
        try replace(name, with: [try file.read(at: 0, count: Int(end))] + holes, in: directory, keep: .beside, lost: lost, suffix: ".broken")
        return "appended a hole for sequence numbers \(range) to \(name) (\(note); \(keptWhere(name, .beside, ".broken")))"
    }

    /// A missing segment between `previous` and the segment at `base`: when `previous` ends short of
    /// `base`, creates a segment holding a hole for the numbers between. Returns what was done and the
    /// lost numbers; nil when there is no gap to fill (the segments meet, or overlap).
    static func fillGap(after previous: (base: UInt64, name: String), before base: UInt64,
                        in directory: OutboxDirectory) throws -> (String, SequenceRangeSet)? {
        let file = try directory.openFile(previous.name, writable: false)
        let header = try LogFile.checkHeader(of: file, kind: .segment, expectedBase: previous.base, outboxID: nil)
        let end = try frameSpan(file, identity: FileIdentity(outboxID: header.outboxID, base: previous.base), maxBody: header.maxRecordSize,
                                version: header.version)
            .last.map { $0 + 1 } ?? previous.base
        guard end < base else { return nil }
        let created = try holeSegment(end...(base - 1), template: header, in: directory, note: "segment missing")
        var lost = SequenceRangeSet()
        lost.insert(end...(base - 1))
        return ("created \(created) holding a hole for the missing sequence numbers \(end)...\(base - 1)", lost)
    }

    /// Creates a segment at `start` holding one hole up to `end` (a missing segment), with `template`'s
    /// outbox id and max record size.
    static func holeSegment(_ range: ClosedRange<UInt64>, template: FileHeader, in directory: OutboxDirectory, note: String) throws -> String {
        var h = template
        h.base = range.lowerBound
        h.version = FileHeader.currentVersion
        let name = FileNames.segment(range.lowerBound)
        let identity = FileIdentity(outboxID: h.outboxID, base: range.lowerBound)
        var frames = holeFrames(range, identity: identity, offset: Int64(FileHeader.size), note: note,
                                tag: FrameHeader.writeTag(start: Int64(FileHeader.size), version: h.version))
        if let seal = seal(frames, end: range.upperBound + 1, version: h.version, identity: identity) { frames.append(seal) }
        _ = try directory.createFile(name, contents: [h.encode()] + frames)
        return name
    }

    /// The seal (FORMAT.md §3a) of a sealed segment whose frames after the header are `frames` and whose
    /// numbers end before `end`, if its format `version` has seals.
    static func seal(_ frames: [[UInt8]], end: UInt64, version: UInt16, identity: FileIdentity) -> [UInt8]? {
        guard !frames.isEmpty, FrameContent.segmentsHaveSeals(version) else { return nil }
        let offset = Int64(FileHeader.size) + Int64(frames.reduce(0) { $0 + $1.count })
        let lanes = version >= FileHeader.lanesVersion ? frames.reduce(UInt64(0)) { $0 | LaneSummary.filter(ofFrame: $1) } : nil
        return Seal(offset: offset, end: end, frames: UInt32(frames.count), lanes: lanes)
            .encode(identity: identity, sealedAtMicros: OutboxMessage.micros(Date()),
                    tag: FrameHeader.writeTag(start: Int64(FileHeader.size), version: version))
    }

    /// Hole frames for `range` (split to fit the count field), starting at `offset`, part of a write
    /// whose tag is `tag`.
    static func holeFrames(_ range: ClosedRange<UInt64>, identity: FileIdentity, offset: Int64, note: String, tag: UInt16,
                           reason: String? = nil) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var start = range.lowerBound
        var at = offset
        let body = Array((reason ?? "lost to damage (\(note))").utf8)
        while start <= range.upperBound {
            let count = min(range.upperBound - start + 1, UInt64(UInt32.max))
            let frame = FrameHeader.frame(kind: .hole, first: start, count: UInt32(count), body: body, identity: identity, offset: at, tag: tag)
            frames.append(frame)
            at += Int64(frame.count)
            start += count
        }
        return frames
    }
}
