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

    /// A seal frame is a 24-byte header and an 8-byte body.
    static let bodySize = 8
    static let frameSize = FrameHeader.size + bodySize

    /// The seal a checked frame of kind ``FrameKind/seal`` stands for.
    init(_ frame: Frame) {
        offset = frame.offset
        end = frame.header.first
        frames = frame.header.count
    }

    init(offset: Int64, end: UInt64, frames: UInt32) {
        self.offset = offset
        self.end = end
        self.frames = frames
    }

    /// The frame bytes of this seal in the file `identity`, sealed at `sealedAtMicros` (informational),
    /// part of a write whose tag is `tag`.
    func encode(identity: FileIdentity, sealedAtMicros: Int64, tag: UInt16) -> [UInt8] {
        var body = ByteWriter(capacity: Self.bodySize)
        body.i64(sealedAtMicros)
        return FrameHeader.frame(kind: .seal, first: end, count: frames, body: body.bytes, identity: identity, offset: offset, tag: tag)
    }
}
