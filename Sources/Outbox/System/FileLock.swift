#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// An exclusive `flock(2)` on a lock file in the outbox directory, held until released or the process
/// dies.
///
/// `flock` locks belong to the open file description, so closing some other descriptor of the same file
/// never drops them (unlike POSIX record locks). The holder writes its pid into the file so that a
/// refused process can name it.
final class FileLock: @unchecked Sendable {
    let file: OutboxFile

    /// The lock file of the single writer.
    static let writerLockName = "writer.lock"
    /// The lock file of the single active relay (the tombstone writer).
    static let relayLockName = "relay.lock"

    private init(file: OutboxFile) { self.file = file }

    /// How long a lock must stay held before ``acquire(_:in:role:)`` reports it as held.
    ///
    /// A lock its holder has released can linger for a moment: a child process forked by any thread
    /// of the holder keeps a copy of the descriptor (and so of the `flock`) until it calls `exec`, which
    /// closes it (`O_CLOEXEC`). Retrying for this long keeps such a window from failing an open.
    static let releaseGrace: Duration = .milliseconds(100)

    /// Takes the lock, or throws ``OutboxError/Code/locked`` naming the holder's pid once it has stayed
    /// held for ``releaseGrace``. Blocks the calling thread for at most that long.
    static func acquire(_ name: String, in directory: OutboxDirectory, role: String) throws -> FileLock {
        let file = try directory.openOrCreateFile(name)
        let deadline = ContinuousClock.now + releaseGrace
        while true {
            do {
                try directory.sys.flock(file.fd, LOCK_EX | LOCK_NB)
                break
            } catch let e as Errno {
                guard e.code == EWOULDBLOCK else { throw OutboxError.failed(.flock, errno: e.code, path: file.path) }
                if ContinuousClock.now < deadline {
                    usleep(2_000)
                    continue
                }
                let holder = holderPid(of: file).map { "pid \($0)" } ?? "another process"
                throw OutboxError(.locked, "the outbox is already open for \(role) by \(holder)", path: directory.path)
            }
        }
        // The pid is informational: a full disk must not stop the outbox from opening.
        let pid = Array("\(getpid())\n".utf8)
        try? file.truncate(to: 0)
        try? file.write(pid, at: 0)
        return FileLock(file: file)
    }

    /// The pid of the process holding the lock file `name`, if it is held (``SystemCalls/flockHolder(_:)``).
    static func holder(_ name: String, in directory: OutboxDirectory) -> Int32? {
        guard let file = try? directory.openFile(name, writable: false) else { return nil }
        return directory.sys.flockHolder(file.fd)
    }

    private static func holderPid(of file: OutboxFile) -> Int32? {
        guard let bytes = try? file.read(at: 0, count: 32) else { return nil }
        return Int32(String(decoding: bytes.prefix(while: { $0 >= 0x30 && $0 <= 0x39 }), as: UTF8.self))
    }

    /// Releases the lock (also released when the object is freed or the process dies).
    func release() {
        try? file.sys.flock(file.fd, LOCK_UN)
    }
}
