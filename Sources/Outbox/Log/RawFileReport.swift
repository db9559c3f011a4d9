/// A raw walk over one outbox file (``OutboxInspector/rawWalk(path:)``).
public struct RawFileReport: Sendable {
    public var path: String
    public var name: String
    /// `segment`, `tombstone`, `dead-letter`, or `unknown`.
    public var kind: String
    public var size: Int64
    /// The header's fields in words, when it is valid.
    public var header: String?
    /// The file's format version, when its header is valid.
    public var version: UInt16?
    /// Why the header is not valid, if it is not.
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
    /// The kind of each entry's frame, nil for damage (the same index as ``entries``): walks that judge
    /// frames match kinds as values, never by name.
    package var entryKinds: [FrameKind?] = []
    /// The code of the header's problem, if it has one.
    package var headerProblemCode: OutboxError.Code?

    /// Adds an entry; `kind` for a frame.
    mutating func append(_ entry: RawEntry, kind: FrameKind? = nil) {
        entries.append(entry)
        entryKinds.append(kind)
    }
}
