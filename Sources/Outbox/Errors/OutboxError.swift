#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one error type of the package.
///
/// Every failure carries a stable ``Code`` (safe to match on and to log as a metric label), a
/// human-readable message, and where known the file and byte offset it concerns and the underlying
/// cause (for example the `errno` of a failed system call).
public struct OutboxError: Error, CustomStringConvertible, Sendable {
    /// A stable error code. Its ``rawValue`` never changes meaning between releases, and codes may be
    /// added without breaking a caller: match the ones you handle (`e.code == .locked`, or `case .locked:`
    /// in a `switch` with a `default`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code as text (`no-space`, `locked`...): safe to log and to use as a metric label.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The code whose ``rawValue`` is `rawValue`, if this build knows it.
        public init?(rawValue: String) {
            guard Self.allCases.contains(where: { $0.rawValue == rawValue }) else { return nil }
            self.rawValue = rawValue
        }

        /// Every code this build knows.
        public static var allCases: [Code] {
            [.io, .noSpace, .syncFailed, .failedStop, .locked, .notAnOutbox, .unsupportedVersion, .corrupt, .recordTooLarge,
             .invalidArgument, .symlink, .closed, .broker, .outboxFull, .missingKey, .wrongKey, .retiredKey, .keyInUse,
             .eventEncoding, .eventDecoding]
        }

        /// A system call failed (see ``OutboxError/errno``).
        public static let io = Code("io")
        /// The disk is full; nothing already acknowledged was lost and appends may be retried.
        public static let noSpace = Code("no-space")
        /// An `fdatasync`/`fsync` failed. The outbox stopped accepting appends until it is reopened.
        public static let syncFailed = Code("sync-failed")
        /// An earlier fatal failure stopped this outbox; reopen it to recover.
        public static let failedStop = Code("failed-stop")
        /// Another process holds the lock this operation needs.
        public static let locked = Code("locked")
        /// The path is not an outbox directory, or a file in it is not an outbox file.
        public static let notAnOutbox = Code("not-an-outbox")
        /// A file was written by a format version this build does not understand.
        public static let unsupportedVersion = Code("unsupported-version")
        /// A file is damaged in a way that recovery must not repair silently.
        public static let corrupt = Code("corrupt")
        /// A message or commit is larger than the outbox's max record size.
        public static let recordTooLarge = Code("record-too-large")
        /// A caller passed an argument that cannot be used (including a sink's configuration that the
        /// broker refuses for good).
        public static let invalidArgument = Code("invalid-argument")
        /// The path is a symbolic link where a regular file or directory was expected.
        public static let symlink = Code("symlink")
        /// The outbox was closed.
        public static let closed = Code("closed")
        /// An event bus could not be reached, or refused a request that was not about one message.
        public static let broker = Code("broker")
        /// The outbox's disk budget (``OutboxConfiguration/maxDiskBytes``) has no room for the commit;
        /// nothing was written, and appends succeed again once the relay's acknowledgements and
        /// compaction free room.
        public static let outboxFull = Code("outbox-full")
        /// Data is encrypted (FORMAT.md §10) and no key was given. Not damage: with the key it reads.
        public static let missingKey = Code("missing-key")
        /// Data is encrypted with a key (named by its id) that is not among the keys given. Not damage:
        /// with that key it reads.
        public static let wrongKey = Code("wrong-key")
        /// The key given to encrypt new data was retired (`outbox keys retire`): put a new key first.
        public static let retiredKey = Code("retired-key")
        /// A key cannot be retired: data not yet finished (pending messages, dead letters, the active
        /// segment) is encrypted with it. Retire it once that data is published and compacted.
        public static let keyInUse = Code("key-in-use")
        /// A typed event (``OutboxEvent``) could not be encoded: nothing was appended.
        public static let eventEncoding = Code("event-encoding")
        /// A stored message could not be decoded as the typed event asked for: another event type, a
        /// schema version with no upgrade registered (or newer than the app knows), or a payload its
        /// coder refuses. The message itself is unchanged.
        public static let eventDecoding = Code("event-decoding")
    }

    /// The stable code.
    public var code: Code
    /// What went wrong, in one line.
    public var message: String
    /// The file concerned, if any.
    public var path: String?
    /// The byte offset in ``path`` concerned, if any.
    public var offset: Int64?
    /// The `errno` of the failed system call, if any.
    public var errno: Int32?
    /// The underlying error, if any.
    public var cause: (any Error & Sendable)?

    public init(
        _ code: Code, _ message: String, path: String? = nil, offset: Int64? = nil,
        errno: Int32? = nil, cause: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
        self.cause = cause
    }

    /// One line: `[code] path at offset N: message (cause)`.
    public var description: String {
        var s = ""
        if let path { s += path }
        if let offset { s += (s.isEmpty ? "" : " ") + "at offset \(offset)" }
        if !s.isEmpty { s += ": " }
        s += message
        if let errno { s += " (\(String(cString: strerror(errno))), errno \(errno))" }
        if let cause { s += " (\(cause))" }
        return s
    }

    /// The error of a failed system call, its code decided here: a failed sync is ``Code/syncFailed``,
    /// `ENOSPC` and `EDQUOT` are ``Code/noSpace``, `ELOOP` (a symbolic link refused) ``Code/symlink``,
    /// anything else ``Code/io``.
    static func failed(_ call: SystemCall, errno: Int32, path: String?) -> OutboxError {
        let code: Code
        switch errno {
        case _ where call.syncs: code = .syncFailed
        case ENOSPC, EDQUOT: code = .noSpace
        case ELOOP: code = .symlink
        default: code = .io
        }
        let what = code == .symlink ? "\(call) refused: the path is a symbolic link" : "\(call) failed"
        return OutboxError(code, what, path: path, errno: errno)
    }
}
