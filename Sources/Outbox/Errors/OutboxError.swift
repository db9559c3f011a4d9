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
        private enum Known: String, CaseIterable {
            case io = "io"
            case noSpace = "no-space"
            case syncFailed = "sync-failed"
            case failedStop = "failed-stop"
            case locked = "locked"
            case notAnOutbox = "not-an-outbox"
            case unsupportedVersion = "unsupported-version"
            case corrupt = "corrupt"
            case recordTooLarge = "record-too-large"
            case invalidArgument = "invalid-argument"
            case symlink = "symlink"
            case closed = "closed"
            case broker = "broker"
        }

        private let known: Known
        private init(_ known: Known) { self.known = known }

        /// The code as text (`no-space`, `locked`...): safe to log and to use as a metric label.
        public var rawValue: String { known.rawValue }
        public var description: String { known.rawValue }

        /// The code whose ``rawValue`` is `rawValue`, if this build knows it.
        public init?(rawValue: String) {
            guard let k = Known(rawValue: rawValue) else { return nil }
            known = k
        }

        /// Every code this build knows.
        public static var allCases: [Code] { Known.allCases.map(Code.init) }

        /// A system call failed (see ``OutboxError/errno``).
        public static let io = Code(.io)
        /// The disk is full; nothing already acknowledged was lost and appends may be retried.
        public static let noSpace = Code(.noSpace)
        /// An `fdatasync`/`fsync` failed. The outbox stopped accepting appends until it is reopened.
        public static let syncFailed = Code(.syncFailed)
        /// An earlier fatal failure stopped this outbox; reopen it to recover.
        public static let failedStop = Code(.failedStop)
        /// Another process holds the lock this operation needs.
        public static let locked = Code(.locked)
        /// The path is not an outbox directory, or a file in it is not an outbox file.
        public static let notAnOutbox = Code(.notAnOutbox)
        /// A file was written by a format version this build does not understand.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// A file is damaged in a way that recovery must not repair silently.
        public static let corrupt = Code(.corrupt)
        /// A message or commit is larger than the outbox's max record size.
        public static let recordTooLarge = Code(.recordTooLarge)
        /// A caller passed an argument that cannot be used (including a sink's configuration that the
        /// broker refuses for good).
        public static let invalidArgument = Code(.invalidArgument)
        /// The path is a symbolic link where a regular file or directory was expected.
        public static let symlink = Code(.symlink)
        /// The outbox was closed.
        public static let closed = Code(.closed)
        /// An event bus could not be reached, or refused a request that was not about one message.
        public static let broker = Code(.broker)
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

    /// Builds the error for a failed system call, mapping `ENOSPC` to ``Code/noSpace``.
    static func system(_ call: String, errno: Int32, path: String?) -> OutboxError {
        let code: Code
        switch errno {
        case ENOSPC, EDQUOT: code = .noSpace
        case ELOOP: code = .symlink
        default: code = .io
        }
        let what = code == .symlink ? "\(call) refused: the path is a symbolic link" : "\(call) failed"
        return OutboxError(code, what, path: path, errno: errno)
    }
}
