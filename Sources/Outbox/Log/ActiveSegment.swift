import Foundation
import Logging

/// The segment the writer appends to: where its frames end, the zeros allocated ahead of them, how many
/// frames it holds, and its seal once written (FORMAT.md §3a, §7). Only the writer's commit thread
/// touches it.
struct ActiveSegment {
    private(set) var file: OutboxFile
    private(set) var base: UInt64
    /// Where the next frame goes: the frames end here.
    var writeOffset: Int64
    /// The file's size: zeros allocated ahead of the frames fill it from ``writeOffset`` up to here.
    private(set) var allocatedEnd: Int64
    /// The frames it holds, for its seal.
    var frames: UInt32
    /// The lane filter of its messages, for its seal (FORMAT.md §3a).
    var lanes: UInt64
    /// Its format version: from version 4 its frames carry the tag of their write.
    private(set) var version: UInt16
    /// Whether its format has seals (version 3 on: a segment an older build created is sealed without one).
    private(set) var sealable: Bool
    /// Whether it ends with its seal (a roll that did not get to create the next segment): every commit
    /// then goes to a new segment.
    private(set) var sealed: Bool
    let outboxID: OutboxID
    /// Whether its frames' records are in envelopes (version 7, FORMAT.md §10).
    let encrypted: Bool
    /// This writer's epoch in it (FORMAT.md §10): random, new whenever the writer may write an offset it
    /// wrote before (a new writer, a write cut short).
    var epoch = UInt64.random(in: 0...UInt64.max)
    /// The key its last envelope names, as recovery found it (nil for a new or plain segment).
    let lastKey: OutboxKeys.ID?

    /// How far ahead of its frames the writer zero-fills the segment, at most.
    static let allocationStep: Int64 = 1 << 20
    private static let zeros = [UInt8](repeating: 0, count: 1 << 16)

    init(file: OutboxFile, outboxID: OutboxID, base: UInt64, writeOffset: Int64, allocatedEnd: Int64, frames: UInt32 = 0,
         lanes: UInt64 = 0, version: UInt16 = FileHeader.currentVersion, sealed: Bool = false, encrypted: Bool = false,
         lastKey: OutboxKeys.ID? = nil) {
        self.file = file
        self.outboxID = outboxID
        self.base = base
        self.writeOffset = writeOffset
        self.allocatedEnd = max(allocatedEnd, writeOffset)
        self.frames = frames
        self.lanes = lanes
        self.version = version
        self.sealable = FrameContent.segmentsHaveSeals(version)
        self.sealed = sealed
        self.encrypted = encrypted
        self.lastKey = lastKey
    }

    /// A new, empty segment after a roll.
    init(new file: OutboxFile, header: FileHeader) {
        self.init(file: file, outboxID: header.outboxID, base: header.base, writeOffset: Int64(FileHeader.size),
                  allocatedEnd: Int64(FileHeader.size), version: header.version, encrypted: header.encrypted)
    }

    var identity: FileIdentity { FileIdentity(outboxID: outboxID, base: base) }

    /// The write tag of a write beginning at ``writeOffset`` (FORMAT.md §3).
    var tag: UInt16 { FrameHeader.writeTag(start: writeOffset, version: version) }

    /// What the segment takes on disk (its allocated size) once `bytes` more are written.
    func bytes(adding bytes: Int64) -> Int64 { max(allocatedEnd, writeOffset + bytes) }

    /// Zero-fills the segment ahead of `needed`, a step at a time, so that a commit's `fdatasync` writes
    /// data pages only: the file's size (inode metadata) does not change with every commit. The zeros are
    /// written before the frames that need them and made durable by the same `fdatasync`; recovery and
    /// readers take zeros after the last frame for the end of the log (FORMAT.md §7). Never past `limit`
    /// (the segment size, the disk budget); a failed write only means less is allocated.
    mutating func allocate(through needed: Int64, limit: Int64) {
        guard needed > allocatedEnd else { return }
        // Ahead by as much as the segment already holds, from 64 KiB up to the step: a small outbox (a
        // test's, a quiet service's) is not given a megabyte of zeros it will never use.
        let ahead = min(Self.allocationStep, max(64 << 10, needed - Int64(FileHeader.size)))
        let end = max(needed, min(needed + ahead, limit))
        var at = needed  // below it, the frames themselves are about to be written
        while at < end {
            let n = Int(min(Int64(Self.zeros.count), end - at))
            let (written, error) = Self.zeros.withUnsafeBytes { file.writeAll(UnsafeRawBufferPointer(rebasing: $0[0..<n]), at: at) }
            at += Int64(written)
            if error != nil { break }
        }
        allocatedEnd = max(needed, (try? file.size()) ?? at)
    }

    /// Cuts the file back to `size` (what reached it whole after a failed write, or its frames).
    mutating func truncate(to size: Int64) throws {
        try file.truncate(to: size)
        allocatedEnd = size
    }

    /// Trims the zeros allocated ahead of the frames (before a seal, at close).
    mutating func trimAllocation() throws {
        if allocatedEnd > writeOffset { try truncate(to: writeOffset) }
    }

    /// Writes the seal after the frames (the file is trimmed to them); `end` is the next number. A seal
    /// that cannot be written (no room) is cut off again. A segment of version 4 is never sealed without
    /// one (FORMAT.md §3a): that error is returned, and the segment stays active. An older segment is
    /// sealed without one, and open checks it in full.
    mutating func writeSeal(end: UInt64, logger: Logger) throws -> OutboxError? {
        guard sealable, !sealed else { return nil }
        let seal = Seal(offset: writeOffset, end: end, frames: frames, lanes: version >= FileHeader.lanesVersion ? lanes : nil)
        let bytes = seal.encode(identity: identity, sealedAtMicros: OutboxMessage.micros(Date()), tag: tag)
        let (_, error) = bytes.withUnsafeBytes { file.writeAll($0, at: writeOffset) }
        if let error {
            try file.truncate(to: writeOffset)
            if version >= FrameHeader.taggedVersion { return error }
            logger.warning("could not write the seal of a full segment; open will check it in full", metadata: [
                "file": "\(file.path)", "error": "\(error)"])
            return nil
        }
        writeOffset += Int64(bytes.count)
        allocatedEnd = writeOffset
        sealed = true
        return nil
    }
}
