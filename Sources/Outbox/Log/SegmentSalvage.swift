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
    private static func rebuild(_ name: String, base: UInt64, nextBase: UInt64?, identity: FileIdentity, header: FileHeader,
                        in directory: OutboxDirectory, keep: Keep) throws -> SequenceRangeSet {
        let file = try directory.openFile(name, writable: false)
        let scanner = FrameScanner(file: file, identity: identity, maxBody: header.maxRecordSize, version: header.version,
                                   kinds: FrameContent.kinds(in: .segment, version: header.version), size: try file.size(),
                                   validate: { h, body in FrameContent.problem(h, body, maxBody: header.maxRecordSize) })
        // The rebuilt file is created whole: one write from its first frame (FORMAT.md §3).
        let tag = FrameHeader.writeTag(start: Int64(FileHeader.size), version: header.version)
        var frames: [[UInt8]] = []
        var offset = Int64(FileHeader.size)
        var expected = base
        var lost = SequenceRangeSet()
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
            add(FrameHeader.frame(kind: f.header.kind, first: f.header.first, count: f.header.count, body: f.body,
                                  identity: identity, offset: offset, tag: tag))
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
    private static func foreign(_ name: String, base: UInt64, nextBase: UInt64?, reference: OutboxID, highestTombstoned: UInt64?,
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

    /// Replaces a damaged tombstone or dead-letter file `name` by its valid frames, keeping the original
    /// as `keep` says. Its identity is the outbox's id (`reference`, or with no other file the id field of
    /// its damaged header) and the base its name gives; its max record size its own, or the segments'.
    /// Returns what was done. Lost tombstones make their messages pending again (published again).
    package static func rebuildOther(_ name: String, kind: FileHeader.Kind, base: UInt64, reference: OutboxID?,
                                     in directory: OutboxDirectory, keep: Keep) throws -> String {
        let file = try directory.openFile(name, writable: false)
        let own = try? LogFile.checkHeader(of: file, kind: kind, expectedBase: base, outboxID: nil)
        let id = try reference ?? own?.outboxID ?? OutboxID(bytes: file.read(at: 16, count: 16))
        let identity = FileIdentity(outboxID: id, base: base)
        let maxRecordSize = own?.maxRecordSize ?? otherSegmentsMaxRecordSize(in: directory, except: name)
        let version = own?.version ?? guessedVersion(file)
        let scanner = FrameScanner(file: file, identity: identity, maxBody: maxRecordSize, version: version,
                                   kinds: FrameContent.kinds(in: kind, version: version),
                                   size: try file.size(), validate: { h, body in FrameContent.problem(h, body, maxBody: maxRecordSize) })
        // The replacement is of the current version, created whole: one write from its first frame.
        let tag = FrameHeader.writeTag(start: Int64(FileHeader.size), version: FileHeader.currentVersion)
        var frames: [[UInt8]] = []
        var offset = Int64(FileHeader.size)
        try scanner.forEachValidFrame { f in
            let frame = FrameHeader.frame(kind: f.header.kind, first: f.header.first, count: f.header.count, body: f.body,
                                          identity: identity, offset: offset, tag: tag)
            offset += Int64(frame.count)
            frames.append(frame)
            return true
        }
        let header = FileHeader(kind: kind, outboxID: id, base: base, maxRecordSize: maxRecordSize, createdAtMicros: OutboxMessage.micros(Date()))
        try replace(name, with: [header.encode()] + frames, in: directory, keep: keep, lost: SequenceRangeSet(), suffix: ".broken")
        return "rebuilt \(name) from its \(frames.count) valid frame(s) (\(keptWhere(name, keep, ".broken")))"
            + (kind == .tombstones ? "; messages whose tombstones were lost will be published again" : "")
    }

    /// The format version a file whose header is damaged was most likely written with: its version field if
    /// that is a version this build reads, else the current one (its frames' flags depend on it).
    private static func guessedVersion(_ file: OutboxFile) -> UInt16 {
        guard let bytes = try? file.read(at: 8, count: 2), bytes.count == 2 else { return FileHeader.currentVersion }
        let version = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        return FileHeader.readableVersions.contains(version) ? version : FileHeader.currentVersion
    }

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

    /// The max record size a segment other than `except` with a valid header names, or the default.
    private static func otherSegmentsMaxRecordSize(in directory: OutboxDirectory, except: String) -> UInt32 {
        let segments = (try? FileNames.list(directory).segments) ?? []
        return segments.lazy.filter { $0.name != except }.compactMap { s in
            (try? directory.openFile(s.name, writable: false)).flatMap {
                try? LogFile.checkHeader(of: $0, kind: .segment, expectedBase: s.base, outboxID: nil).maxRecordSize
            }
        }.first ?? UInt32(OutboxConfiguration().maxRecordSize)
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
    private static func holeSegment(_ range: ClosedRange<UInt64>, template: FileHeader, in directory: OutboxDirectory, note: String) throws -> String {
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
    private static func seal(_ frames: [[UInt8]], end: UInt64, version: UInt16, identity: FileIdentity) -> [UInt8]? {
        guard !frames.isEmpty, FrameContent.segmentsHaveSeals(version) else { return nil }
        let offset = Int64(FileHeader.size) + Int64(frames.reduce(0) { $0 + $1.count })
        return Seal(offset: offset, end: end, frames: UInt32(frames.count))
            .encode(identity: identity, sealedAtMicros: OutboxMessage.micros(Date()),
                    tag: FrameHeader.writeTag(start: Int64(FileHeader.size), version: version))
    }

    /// Hole frames for `range` (split to fit the count field), starting at `offset`, part of a write
    /// whose tag is `tag`.
    static func holeFrames(_ range: ClosedRange<UInt64>, identity: FileIdentity, offset: Int64, note: String, tag: UInt16) -> [[UInt8]] {
        var frames: [[UInt8]] = []
        var start = range.lowerBound
        var at = offset
        let body = Array("lost to damage (\(note))".utf8)
        while start <= range.upperBound {
            let count = min(range.upperBound - start + 1, UInt64(UInt32.max))
            let frame = FrameHeader.frame(kind: .hole, first: start, count: UInt32(count), body: body, identity: identity, offset: at, tag: tag)
            frames.append(frame)
            at += Int64(frame.count)
            start += count
        }
        return frames
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

    /// Replaces `name` by `contents`, keeping the original whole where `keep` says.
    static func replace(_ name: String, with contents: [[UInt8]], in directory: OutboxDirectory, keep: Keep,
                        lost: SequenceRangeSet, suffix: String) throws {
        let keptAs: String
        var keptIn: OutboxDirectory?
        switch keep {
        case .beside:
            keptAs = unusedName(name + suffix, in: directory)
        case .quarantine(let reason, let offset):
            try ensureQuarantineDirectory(directory)
            let folder = try OutboxDirectory.open(directory.pathOf(quarantineDirectory), create: false, sys: directory.sys)
            keptAs = unusedName(quarantineDirectory + "/" + name, in: directory)
            try writeRecord(for: String(keptAs.dropFirst(quarantineDirectory.count + 1)), file: name, reason: reason, offset: offset,
                            lost: lost, in: folder)
            keptIn = folder
        }
        // The kept copy's directory entry is durable before the original is replaced.
        try directory.replaceFile(name, keepingOldAs: keptAs, in: keptIn, contents: contents)
    }

    /// Where `keep` puts the original of `name`, in words.
    static func keptWhere(_ name: String, _ keep: Keep, _ suffix: String) -> String {
        switch keep {
        case .beside: "original kept as \(name)\(suffix)"
        case .quarantine: "original moved to \(quarantineDirectory)/"
        }
    }

    /// `candidate`, or `candidate.N` for the first N not taken.
    static func unusedName(_ candidate: String, in directory: OutboxDirectory) -> String {
        var name = candidate
        var n = 1
        while (try? directory.openFile(name, writable: false)) != nil {
            name = candidate + ".\(n)"
            n += 1
        }
        return name
    }

    private static func ensureQuarantineDirectory(_ directory: OutboxDirectory) throws {
        let path = directory.pathOf(quarantineDirectory)
        do { try directory.sys.mkdir(path, 0o700) } catch let e as Errno where e.code == EEXIST {
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw OutboxError(.corrupt, "\(quarantineDirectory) exists but is not a directory", path: path)
            }
        } catch let e as Errno {
            throw OutboxError.failed(.mkdir, errno: e.code, path: path)
        }
        try directory.syncDirectory()
    }

    /// `quarantine/NAME.json`: why the file is there and which numbers it held (FORMAT.md §1a).
    private static func writeRecord(for keptAs: String, file: String, reason: String, offset: Int64?, lost: SequenceRangeSet,
                                    in folder: OutboxDirectory) throws {
        var record: [String: Any] = [
            "file": file, "reason": reason, "lost": lost.description,
            "quarantinedAtMicros": OutboxMessage.micros(Date()),
        ]
        if let offset { record["offset"] = offset }
        if let base = FileNames.parseSegment(file) { record["base"] = base }
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        // Created as every outbox file is (FORMAT.md §1, §6): mode 0600, a temporary name, fsync, rename,
        // fsync of the quarantine directory.
        _ = try folder.createFile(keptAs + ".json", contents: [Array(data)])
    }
}
