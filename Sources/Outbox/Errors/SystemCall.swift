/// A system call the package makes, named for the error its failure becomes. The error's code is
/// decided where it is built, from the call and the `errno` (``OutboxError/failed(_:errno:path:)``):
/// nothing patches a code on afterwards.
package enum SystemCall: Sendable, CustomStringConvertible {
    case open, mkdir, fstat, pread, write, ftruncate, fchmod, flock, readdir, unlink
    case link(to: String)
    case rename(to: String)
    /// These make data durable: their failure is ``OutboxError/Code/syncFailed``, whatever the `errno`.
    case fdatasync, fsync, fsyncDirectory

    package var description: String {
        switch self {
        case .open: "open"
        case .mkdir: "mkdir"
        case .fstat: "fstat"
        case .pread: "pread"
        case .write: "write"
        case .ftruncate: "ftruncate"
        case .fchmod: "fchmod"
        case .flock: "flock"
        case .readdir: "readdir"
        case .unlink: "unlink"
        case .link(let to): "link to \(to)"
        case .rename(let to): "rename to \(to)"
        case .fdatasync: "fdatasync"
        case .fsync: "fsync"
        case .fsyncDirectory: "fsync of directory"
        }
    }

    /// Whether a failure of this call leaves durability unknown.
    var syncs: Bool {
        switch self {
        case .fdatasync, .fsync, .fsyncDirectory: true
        default: false
        }
    }
}
