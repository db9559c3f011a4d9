/// Why the bytes at an offset are not a valid frame.
///
/// With ``SequenceContinuity`` and the header checks of `LogFile`, this is the one classification of
/// damage every command uses. The rule for a torn tail (FORMAT.md §7) is ``canBeTorn``: only bytes that
/// could be a write still in progress or cut short may be a torn tail; a frame whose checksum matches
/// was written whole, so whatever else is wrong with it is corruption, wherever it is.
struct FrameDamage: Error, Sendable, Equatable {
    var offset: Int64
    var reason: String
    /// The frame's checksum matched (its flags, kind, count or content are wrong): it was written whole.
    var whole = false
    /// The frame header is 24 zero bytes: the end of the log if every byte after it is zero too (space
    /// the writer allocated ahead, FORMAT.md §7).
    var zeroHeader = false
    /// The bytes follow the segment's seal (FORMAT.md §3a), after which the writer never writes.
    var afterSeal = false

    /// Whether this damage may be a torn tail, when nothing valid follows it in an active file.
    var canBeTorn: Bool { !whole && !afterSeal }

    /// Why damage that is not ``canBeTorn`` cannot be a torn tail, in words.
    var notTornBecause: String {
        afterSeal ? "nothing is written after a seal, so it is not a torn tail"
            : "its checksum matches: it was written whole, so it is not a torn tail"
    }
}
