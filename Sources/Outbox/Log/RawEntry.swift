/// One entry of a raw walk over a file: a valid frame, or a damaged region.
public enum RawEntry: Sendable, Equatable {
    /// A frame whose checksum and structure are valid.
    case frame(offset: Int64, length: Int64, kind: String, first: UInt64, count: UInt32)
    /// Bytes that are not a valid frame: from `offset`, `length` bytes up to the next valid frame (or the
    /// end of the file), why, the first bytes of the region, and whether they may be a torn write (false
    /// for a frame whose checksum matches: it was written whole).
    case damage(offset: Int64, length: Int64, reason: String, excerpt: [UInt8], canBeTorn: Bool)
}
