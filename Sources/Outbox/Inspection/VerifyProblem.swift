/// One problem ``OutboxInspector/verify(path:keys:)`` found.
public struct VerifyProblem: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Damage at the end of an active file that nothing valid follows: an interrupted write.
        case tornTail = "torn-tail"
        /// A damaged frame elsewhere (a sealed file, or followed by valid frames).
        case corrupt = "corrupt"
        /// A damaged file header.
        case badHeader = "bad-header"
        /// A valid header that names another outbox than the rest of the directory (FORMAT.md §2).
        case foreignOutbox = "foreign-outbox"
        /// A file of a format version this build does not read.
        case unsupportedVersion = "unsupported-version"
        /// Sequence numbers missing or repeated between frames or segments.
        case sequenceGap = "sequence-gap"
        /// A tombstone for a sequence number that was never committed. (No longer reported: such a
        /// tombstone is ``numbersMissing``, as the writer's open judges it.)
        case unknownTombstone = "unknown-tombstone"
        /// The durable mark (`writer.durable`), a tombstone or a dropped range names sequence numbers above
        /// the end of the log: messages made durable or finished whose frames are gone (FORMAT.md §8).
        /// Open refuses the outbox (their numbers would be given again); repair gives them to a hole.
        case numbersMissing = "numbers-missing"
        /// A leftover temporary file or superseded tombstone generation (removed at the next open).
        case leftoverFile = "leftover-file"
    }

    public var file: String
    public var offset: Int64?
    public var kind: Kind
    public var reason: String
}
