/// The seal of a segment (FORMAT.md §3a): a frame of kind 10 written as the last frame of a segment when
/// the writer rolls past it, so that open can check a sealed segment by its header and its last 32
/// bytes, in time independent of what it holds.
///
/// A seal says the segment ends exactly here (its checksum binds it to its offset, so a file cut short or
/// grown does not end in a valid seal), where its numbers end (``end``, the base of the next segment)
/// and how many frames come before it (``frames``).
package struct Seal: Equatable, Sendable {
    /// The seal's offset in its file.
    var offset: Int64
    /// One past the segment's last sequence number: where the next segment starts.
    var end: UInt64
    /// The number of frames (message commits and holes) before the seal.
    var frames: UInt32
    /// The segment's lane filter (from version 6, FORMAT.md §3a): the bit of every lane with a message in
    /// the segment (``LaneSummary/filterBit(_:)``); nil in an older seal (every message is in `normal`).
    var lanes: UInt64?

    /// A seal frame is a 24-byte header and a body of 8 bytes (16 from version 6: the lane filter).
    static func bodySize(_ version: UInt16) -> Int { version >= FileHeader.lanesVersion ? 16 : 8 }
    static func frameSize(_ version: UInt16) -> Int { FrameHeader.size + bodySize(version) }

    /// The seal a checked frame of kind ``FrameKind/seal`` stands for.
    init(_ frame: Frame) {
        offset = frame.offset
        end = frame.header.first
        frames = frame.header.count
        if frame.body.count >= 16 {
            lanes = frame.body[8..<16].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        }
    }

    init(offset: Int64, end: UInt64, frames: UInt32, lanes: UInt64?) {
        self.offset = offset
        self.end = end
        self.frames = frames
        self.lanes = lanes
    }

    /// Whether the segment may hold messages of a lane whose filter bit is `bit` (false only when its seal
    /// says it holds none).
    func mayHold(laneBit bit: UInt64) -> Bool { (lanes ?? LaneSummary.normalBit) & bit != 0 }

    /// The frame bytes of this seal in the file `identity`, sealed at `sealedAtMicros` (informational),
    /// part of a write whose tag is `tag`; with a lane filter from version 6.
    func encode(identity: FileIdentity, sealedAtMicros: Int64, tag: UInt16) -> [UInt8] {
        var body = ByteWriter(capacity: 16)
        body.i64(sealedAtMicros)
        if let lanes { body.u64(lanes) }
        return FrameHeader.frame(kind: .seal, first: end, count: frames, body: body.bytes, identity: identity, offset: offset, tag: tag)
    }
}
