/// One entry of a raw walk over a file: a valid frame, or a damaged region.
public enum RawEntry: Sendable, Equatable {
    /// A frame whose checksum and structure are valid.
    case frame(offset: Int64, length: Int64, kind: String, first: UInt64, count: UInt32)
    /// Bytes that are not a valid frame: from `offset`, `length` bytes up to the next valid frame (or the
    /// end of the file), why, and the first bytes of the region.
    case damage(offset: Int64, length: Int64, reason: String, excerpt: [UInt8])
}
