import Foundation

/// Which encryption keys an outbox's data needs (`outbox keys status`, FORMAT.md §10e): for each key
/// the keyring names or a file uses, what is encrypted with it. Found without any key: ids and
/// sequence numbers are in clear.
public struct KeyStatus: Sendable, Equatable {
    /// One key, by its id.
    public struct Key: Sendable, Equatable {
        public var id: OutboxKeys.ID
        /// Segments holding at least one frame encrypted with it.
        public var segments: Int = 0
        /// Messages encrypted with it that are not finished yet (pending for some route).
        public var pendingMessages: Int = 0
        /// Dead letters encrypted with it (kept until purged).
        public var deadLetters: Int = 0
        /// Whether the writer encrypts with it now (the keyring's current key), or the active segment's
        /// last frame was encrypted with it.
        public var writing = false
        /// When the writer first used it, if the keyring says.
        public var added: Date?
        /// When it was retired, if it was.
        public var retired: Date?

        /// Whether data not yet finished needs it: it cannot be retired (or destroyed) yet.
        public var isNeeded: Bool { pendingMessages > 0 || deadLetters > 0 || writing }
    }

    /// Every key, in the order the keyring added them (keys files use that it does not name, after).
    public var keys: [Key] = []
    /// Segments with frames in clear (written before encryption was turned on; `outbox encrypt` rewrites them).
    public var plainSegments = 0
    /// Dead letters in clear (a dead-letter file made before encryption was turned on).
    public var plainDeadLetters = 0
}
