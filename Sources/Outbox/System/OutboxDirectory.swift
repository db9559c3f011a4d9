#if canImport(Glibc)
import Glibc
#endif

/// The outbox directory: an open directory descriptor through which every file is opened, created,
/// renamed and removed (`openat` with `O_NOFOLLOW`, `renameat`, `unlinkat`).
///
/// Creating a file follows one order everywhere: write it under a temporary name, `fsync` it, rename it
/// into place, `fsync` the directory. Removing one is `unlinkat` then `fsync` of the directory.
package final class OutboxDirectory: @unchecked Sendable {
    let path: String
    let fd: Int32
    let sys: any SystemCalls
    /// The keys its encrypted files are read and written with (FORMAT.md §10), if given.
    let keys: OutboxKeys?

    /// The prefix of temporary files; such files are leftovers of an interrupted create.
    static let temporaryPrefix = ".tmp-"

    private init(path: String, fd: Int32, sys: any SystemCalls, keys: OutboxKeys?) {
        self.path = path
        self.fd = fd
        self.sys = sys
        self.keys = keys
    }

    deinit { sys.close(fd) }

    /// Opens the directory at `path`, creating it with mode 0700 when `create` is set.
    ///
    /// Refuses a symbolic link, a non-directory, and a directory that group or others can write to.
    package static func open(_ path: String, create: Bool, sys: any SystemCalls, keys: OutboxKeys? = nil) throws -> OutboxDirectory {
        var created = false
        if create {
            do {
                try sys.mkdir(path, 0o700)
                created = true
            } catch let e as Errno where e.code == EEXIST {
            } catch let e as Errno where e.code == ENOENT {
                // Only the outbox directory itself is made (0700): its parent is the caller's to make,
                // with the owner and mode it needs.
                let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
                let parent = trimmed.lastIndex(of: "/").map { i in i == trimmed.startIndex ? "/" : String(trimmed[..<i]) } ?? "."
                throw OutboxError(.notAnOutbox, "cannot create the outbox: its parent directory \(parent) does not exist",
                                  path: path)
            } catch let e as Errno {
                throw OutboxError.failed(.mkdir, errno: e.code, path: path)
            }
        }
        let fd: Int32
        do {
            fd = try sys.openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
        } catch let e as Errno {
            switch e.code {
            case ENOENT:
                throw OutboxError(.notAnOutbox, "no such directory", path: path)
            case ENOTDIR where isSymlink(path), ELOOP:
                throw OutboxError(.symlink, "refusing to open an outbox directory through a symbolic link", path: path)
            case ENOTDIR:
                throw OutboxError(.notAnOutbox, "not a directory", path: path)
            default:
                throw OutboxError.failed(.open, errno: e.code, path: path)
            }
        }
        let directory = OutboxDirectory(path: path, fd: fd, sys: sys, keys: keys)
        if created {
            do { try sys.fchmod(fd, 0o700) } catch let e as Errno {
                throw OutboxError.failed(.fchmod, errno: e.code, path: path)
            }
        }
        let st: (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool)
        do { st = try sys.fstat(fd) } catch let e as Errno { throw OutboxError.failed(.fstat, errno: e.code, path: path) }
        if st.mode & 0o022 != 0 {
            let mode = String(st.mode, radix: 8)
            throw OutboxError(
                .invalidArgument,
                "refusing an outbox directory that group or others can write to (mode \(mode)); chmod 700 it",
                path: path)
        }
        return directory
    }

    /// Opens any directory read-only for inspecting one file in it (no permission checks: it changes
    /// nothing).
    static func openForInspection(_ path: String, sys: any SystemCalls) throws -> OutboxDirectory {
        do {
            return OutboxDirectory(path: path, fd: try sys.openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY, 0), sys: sys, keys: nil)
        } catch let e as Errno {
            throw OutboxError.failed(.open, errno: e.code, path: path)
        }
    }

    /// Whether `path` itself is a symbolic link (`lstat`; only used to explain a refusal).
    private static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFLNK
    }

    /// The path of a file in this directory, for messages.
    func pathOf(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    /// Opens an existing regular file read-only or read-write. Refuses symbolic links.
    func openFile(_ name: String, writable: Bool) throws -> OutboxFile {
        let flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW
        let fd: Int32
        do { fd = try sys.openat(self.fd, name, flags, 0) } catch let e as Errno {
            if e.code == ELOOP {
                throw OutboxError(.symlink, "refusing to open a symbolic link", path: pathOf(name))
            }
            throw OutboxError.failed(.open, errno: e.code, path: pathOf(name))
        }
        let file = OutboxFile(fd: fd, name: name, path: pathOf(name), sys: sys)
        let st = try? sys.fstat(fd)
        if let st, !st.isRegular {
            throw OutboxError(.notAnOutbox, "not a regular file", path: pathOf(name))
        }
        return file
    }

    /// Opens `name`, creating it empty with mode 0600 if missing (used for lock files only).
    func openOrCreateFile(_ name: String) throws -> OutboxFile {
        let fd: Int32
        do { fd = try sys.openat(self.fd, name, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600) } catch let e as Errno {
            if e.code == ELOOP {
                throw OutboxError(.symlink, "refusing to open a symbolic link", path: pathOf(name))
            }
            throw OutboxError.failed(.open, errno: e.code, path: pathOf(name))
        }
        let file = OutboxFile(fd: fd, name: name, path: pathOf(name), sys: sys)
        try file.setMode(0o600)
        return file
    }

    /// Creates `name` durably with `contents`: write `.tmp-name`, fsync, rename, fsync the directory.
    ///
    /// Returns the new file opened read-write. A failure before the rename removes the temporary file
    /// and leaves the directory as it was; a failed fsync is reported as ``OutboxError/Code/syncFailed``.
    func createFile(_ name: String, contents: [[UInt8]]) throws -> OutboxFile {
        let file = try writeTemporary(for: name, contents: contents)
        try syncDirectory()
        return file
    }

    /// Writes `contents` to `.tmp-name`, fsyncs it and renames it to `name` (not yet durable in the
    /// directory: the caller fsyncs the directory). On failure the temporary file is removed.
    private func writeTemporary(for name: String, contents: [[UInt8]]) throws -> OutboxFile {
        let temporary = Self.temporaryPrefix + name
        try? sys.unlinkat(fd, temporary)
        let tfd: Int32
        do {
            tfd = try sys.openat(self.fd, temporary, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        } catch let e as Errno {
            throw OutboxError.failed(.open, errno: e.code, path: pathOf(temporary))
        }
        let file = OutboxFile(fd: tfd, name: name, path: pathOf(name), sys: sys)
        do {
            try file.setMode(0o600)
            var offset: Int64 = 0
            for part in contents {
                try file.write(part, at: offset)
                offset += Int64(part.count)
            }
            try file.sync()
            try rename(temporary, to: name)
        } catch {
            try? sys.unlinkat(fd, temporary)
            throw error
        }
        return file
    }

    /// Replaces `name` with a new file holding `contents`, keeping the old file as `keptAs`: link the old
    /// file to `keptAs`, fsync the directory, write the new one under a temporary name, fsync it, rename
    /// it over `name`, fsync the directory. At every step `name` is either the old file or the new one.
    func replaceFile(_ name: String, keepingOldAs keptAs: String, in keptIn: OutboxDirectory? = nil, contents: [[UInt8]]) throws {
        do { try sys.linkat(fd, name, keptAs) } catch let e as Errno {
            throw OutboxError.failed(.link(to: keptAs), errno: e.code, path: pathOf(name))
        }
        try (keptIn ?? self).syncDirectory()
        _ = try writeTemporary(for: name, contents: contents)
        try syncDirectory()
    }

    /// `renameat` within the directory (not yet durable: call ``syncDirectory()``).
    func rename(_ from: String, to: String) throws {
        do { try sys.renameat(fd, from, to) } catch let e as Errno {
            throw OutboxError.failed(.rename(to: to), errno: e.code, path: pathOf(from))
        }
    }

    /// `unlinkat` (not yet durable: call ``syncDirectory()``).
    func remove(_ name: String) throws {
        do { try sys.unlinkat(fd, name) } catch let e as Errno {
            throw OutboxError.failed(.unlink, errno: e.code, path: pathOf(name))
        }
    }

    /// `fsync` of the directory, making creates, renames and removals durable.
    func syncDirectory() throws {
        do { try sys.fsync(fd) } catch let e as Errno {
            throw OutboxError.failed(.fsyncDirectory, errno: e.code, path: path)
        }
    }

    /// The names of the entries of the directory.
    func list() throws -> [String] {
        do { return try sys.listDirectory(fd) } catch let e as Errno {
            throw OutboxError.failed(.readdir, errno: e.code, path: path)
        }
    }
}
