/// A raw walk over one outbox file (``OutboxInspector/rawWalk(path:)``).
public struct RawFileReport: Sendable {
    public var path: String
    public var name: String
    /// `segment`, `tombstone`, `dead-letter`, or `unknown`.
    public var kind: String
    public var size: Int64
    /// The header's fields in words, when it is valid.
    public var header: String?
    /// Why the header is not valid, if it is not.
    /// The file's format version, when its header is valid.
    public var version: UInt16?
    public var headerProblem: String?
    /// The offset of the bad header field, if the header is not valid.
    public var headerProblemOffset: Int64?
    public var entries: [RawEntry]
    /// The header is valid but names another outbox than the rest of the directory (FORMAT.md §2); its
    /// frames are not walked.
    public var belongsToAnotherOutbox = false
    /// Zero bytes after the last frame, to the end of the file: space the writer allocated ahead
    /// (FORMAT.md §7), not damage.
    public var preallocatedBytes: Int64 = 0
}
