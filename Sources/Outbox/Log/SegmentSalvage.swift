import Foundation
import Logging
import Metrics

/// The file work of saving what a damaged segment still holds, shared by `outbox verify --repair` and by
/// quarantine at open (``OutboxConfiguration/onDamage``): a damaged segment is replaced by its valid
/// frames with hole frames (FORMAT.md §4a) for the numbers lost; a file of another outbox is set aside
/// and a hole takes its place; a missing segment becomes a hole. The original is never cut or deleted: it
/// is kept whole, beside the file (`NAME.broken`, `NAME.foreign`) or in `quarantine/` (FORMAT.md §1a).
///
/// The lost numbers are returned; whoever holds the tombstone writer tombstones them as dead (repair does
/// at once; the relay does when it reads the holes).
package enum SegmentSalvage {
    /// Where the original of a changed file goes.
    package enum Keep: Sendable {
        /// Beside it in the directory: `NAME.broken` for a rebuilt file, `NAME.foreign` for another
        /// outbox's file.
        case beside
        /// In `quarantine/`, with a record of why (FORMAT.md §1a).
        case quarantine(reason: String, offset: Int64?)
    }

    /// Says that `name` was quarantined because of `error`: a critical log line and
    /// `outbox_quarantined_files_total` (labelled with the outbox).
    package static func report(quarantined name: String, because error: OutboxError, action: String, lost: SequenceRangeSet,
                               in directory: OutboxDirectory, logger: Logger) {
        logger.critical("quarantined damage to keep the outbox open", metadata: [
            "file": "\(directory.pathOf(name))", "offset": "\(error.offset.map { "\($0)" } ?? "-")", "reason": "\(error.message)",
            "done": "\(action)", "lost": "\(lost)"])
        Counter(label: "outbox_quarantined_files_total", dimensions: [("outbox", directory.path)]).increment()
    }

    /// The subdirectory quarantined files go to.
    package static let quarantineDirectory = "quarantine"

    /// Saves what segment `name` still holds, whatever is wrong with it: a file of another outbox goes
    /// through ``foreign(_:base:nextBase:reference:highestTombstoned:in:keep:)``; any other damaged
    /// segment is rebuilt from its valid frames, under its own header if that is valid and otherwise under
    /// the outbox's id (``ReferenceOutboxID``; with no other file, the id field of its damaged header, which
    /// its frames' checksums then confirm or refute), the base its name gives and the other segments' max
    /// record size. A file of an unknown format version is refused, never rebuilt. Returns a sentence
    /// saying what was done, and the lost numbers.
    package static func salvage(_ name: String, in directory: OutboxDirectory, keep: Keep,
                                highestTombstoned: UInt64? = nil) throws -> (String, SequenceRangeSet) {
        let listing = try FileNames.list(directory)
        guard let i = listing.segments.firstIndex(where: { $0.name == name }) else {
            throw OutboxError(.invalidArgument, "no such segment", path: directory.pathOf(name))
        }
        let base = listing.segments[i].base
        let nextBase = i + 1 < listing.segments.count ? listing.segments[i + 1].base : nil
        let reference = ReferenceOutboxID.find(in: directory, listing)
        let file = try directory.openFile(name, writable: false)
        let header: FileHeader
        do {
            let own = try LogFile.checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: nil)
            if let reference, own.outboxID != reference {
                return try foreign(name, base: base, nextBase: nextBase, reference: reference, highestTombstoned: highestTombstoned,
                                   in: directory, keep: keep)
            }
            header = own
        } catch let e as OutboxError where e.code == .unsupportedVersion {
            throw e
        } catch {
            let guessed = try reference ?? OutboxID(bytes: file.read(at: 16, count: 16))
            let maxRecordSize = otherSegmentsMaxRecordSize(in: directory, except: name)
            var guessedHeader = FileHeader(kind: .segment, outboxID: guessed, base: base, maxRecordSize: maxRecordSize,
                                           createdAtMicros: OutboxMessage.micros(Date()))
            guessedHeader.version = guessedVersion(file)
            guessedHeader.encrypted = guessedEncrypted(file)
            header = guessedHeader
        }
        let lost = try rebuild(name, base: base, nextBase: nextBase, identity: FileIdentity(outboxID: header.outboxID, base: base),
                               header: header, in: directory, keep: keep)
        return ("rebuilt \(name) from its valid frames (\(keptWhere(name, keep, ".broken")))"
                + (lost.isEmpty ? "" : "; sequence numbers \(lost) lost to damage became holes"), lost)
    }

    /// Replaces segment `name` (first number `base`; the next segment's base, if any) by its valid frames
    /// under `identity`, with holes for the numbers lost, keeping the original as `keep` says. Returns the
    /// lost numbers.
    static func rebuild(_ name: String, base: UInt64, nextBase: UInt64?, identity: FileIdentity, header: FileHeader,
                        in directory: OutboxDirectory, keep: Keep) throws -> SequenceRangeSet {
        let file = try directory.openFile(name, writable: false)
        let scanner = FrameScanner(file: file, identity: identity, maxBody: header.maxRecordSize, version: header.version,
                                   kinds: FrameContent.kinds(in: .segment, version: header.version), size: try file.size(),
                                   validate: { h, body in FrameContent.problem(h, body, in: .segment, version: header.version, encrypted: header.encrypted, maxBody: header.maxRecordSize) })
        // The rebuilt file is created whole: one write from its first frame (FORMAT.md §3).
        let tag = FrameHeader.writeTag(start: Int64(FileHeader.size), version: header.version)
        var frames: [[UInt8]] = []
        var offset = Int64(FileHeader.size)
        var expected = base
        var lost = SequenceRangeSet()
        let epoch = UInt64.random(in: 0...UInt64.max)
        func place(_ at: Int64) -> Envelope.Place {
            Envelope.Place(outboxID: identity.outboxID, kind: .segment, base: base, offset: at, file: directory.pathOf(name))
        }
        func add(_ frame: [UInt8]) {
            frames.append(frame)
            offset += Int64(frame.count)
        }
        try scanner.forEachValidFrame { f in
            guard f.header.first >= expected else { return true }
            if let nextBase, f.header.first >= nextBase { return false }
            if f.header.first > expected {
                lost.insert(expected...(f.header.first - 1))
                for h in holeFrames(expected...(f.header.first - 1), identity: identity, offset: offset, note: "in \(name)", tag: tag) { add(h) }
            }
            // An encrypted frame is sealed again for its new offset (FORMAT.md §10), which needs the key.
            add(try Envelope.reframe(f, from: place(f.offset), to: place(offset), encrypted: header.encrypted, tag: tag,
                                     keys: directory.keys, epoch: epoch))
            expected = f.header.first + UInt64(f.header.count)
            return true
        }
        if let nextBase, expected < nextBase {
            lost.insert(expected...(nextBase - 1))
            for h in holeFrames(expected...(nextBase - 1), identity: identity, offset: offset, note: "in \(name)", tag: tag) { add(h) }
        }
        var newHeader = header
        newHeader.outboxID = identity.outboxID
        if let nextBase, let seal = seal(frames, end: nextBase, version: newHeader.version, identity: identity) { add(seal) }
        try replace(name, with: [newHeader.encode()] + frames, in: directory, keep: keep, lost: lost, suffix: ".broken")
        return lost
    }

    /// A segment whose valid header names another outbox than `reference`. If its frames are this
    /// outbox's (they validate with `reference`), only its header is wrong: it is rebuilt with the
    /// outbox's id. Otherwise it is set aside intact and a segment holding a hole takes its place, for the
    /// numbers up to the next segment, or for the last segment up to the highest number its frames or
    /// `highestTombstoned` name. Returns a sentence saying what was done, and the lost numbers.
    static func foreign(_ name: String, base: UInt64, nextBase: UInt64?, reference: OutboxID, highestTombstoned: UInt64?,
                        in directory: OutboxDirectory, keep: Keep) throws -> (String, SequenceRangeSet) {
        let file = try directory.openFile(name, writable: false)
        let own = try LogFile.checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: nil)
        let ours = try frameSpan(file, identity: FileIdentity(outboxID: reference, base: base), maxBody: own.maxRecordSize, version: own.version)
        let theirs = try frameSpan(file, identity: FileIdentity(outboxID: own.outboxID, base: base), maxBody: own.maxRecordSize, version: own.version)
        if ours.frames > 0, ours.frames >= theirs.frames {
            let lost = try rebuild(name, base: base, nextBase: nextBase, identity: FileIdentity(outboxID: reference, base: base),
                                   header: own, in: directory, keep: keep)
            return ("rebuilt \(name), whose header named another outbox (\(own.outboxID)) but whose frames are this outbox's, with this outbox's id (\(keptWhere(name, keep, ".broken")))"
                    + (lost.isEmpty ? "" : "; sequence numbers \(lost) lost to damage became holes"), lost)
        }
        let upper = nextBase.map { $0 - 1 } ?? max(theirs.last ?? 0, highestTombstoned ?? 0)
        var header = own
        header.outboxID = reference
        let identity = FileIdentity(outboxID: reference, base: base)
        var lost = SequenceRangeSet()
        var frames: [[UInt8]] = []
        if upper >= base {
            lost.insert(base...upper)
            frames = holeFrames(base...upper, identity: identity, offset: Int64(FileHeader.size), note: "\(name) belonged to another outbox",
                                tag: FrameHeader.writeTag(start: Int64(FileHeader.size), version: header.version))
        }
        if let nextBase, let seal = seal(frames, end: nextBase, version: header.version, identity: identity) { frames.append(seal) }
        try replace(name, with: [header.encode()] + frames, in: directory, keep: keep, lost: lost, suffix: ".foreign")
        return ("set \(name), a file of another outbox (\(own.outboxID)), aside intact (\(keptWhere(name, keep, ".foreign")))"
                + (lost.isEmpty ? "; a new empty \(name) takes its place" : "; a new \(name) holds a hole for sequence numbers \(lost)"), lost)
    }

    /// How many valid frames `file` holds under `identity`, and the highest sequence number they name.
    static func frameSpan(_ file: OutboxFile, identity: FileIdentity, maxBody: UInt32, version: UInt16) throws -> (frames: Int, last: UInt64?) {
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxBody, version: version,
                                   kinds: FrameContent.kinds(in: .segment, version: version), size: try file.size())
        var frames = 0
        var last: UInt64?
        try scanner.forEachValidFrame { f in
            frames += 1
            last = max(last ?? 0, f.header.first + UInt64(f.header.count) - 1)
            return true
        }
        return (frames, last)
    }
}
