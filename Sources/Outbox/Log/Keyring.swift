#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging

/// `keyring.json` (FORMAT.md §10e): the ids of the master keys an outbox's encrypted files were written
/// with, when each was first used, and which were retired. Ids only: never a key's bytes.
///
/// The writer adds a key before the first frame it encrypts with it (at open, and when it starts a
/// segment); `outbox keys retire` marks one retired, which it refuses while data not yet finished needs
/// that key (``OutboxInspector/retireKey(_:path:)``). A writer refuses to encrypt with a retired key.
/// Every change is made under an `flock` of the outbox directory and written durably (temporary file,
/// fsync, rename, directory fsync), so a crash leaves the old keyring or the new one.
package struct Keyring: Sendable, Equatable {
    package struct Entry: Sendable, Equatable {
        package var id: OutboxKeys.ID
        /// When the writer first used it, in microseconds since the Unix epoch.
        package var addedMicros: Int64
        /// When it was retired, if it was.
        package var retiredMicros: Int64?
    }

    package var entries: [Entry] = []
    /// The key the writer encrypts with now (set when it chooses one at open or at a new segment).
    package var current: OutboxKeys.ID?

    package init(entries: [Entry] = [], current: OutboxKeys.ID? = nil) { (self.entries, self.current) = (entries, current) }

    package static let fileName = FileNames.keyring

    package func entry(_ id: OutboxKeys.ID) -> Entry? { entries.first { $0.id == id } }

    /// `{"current":"16 hex digits","keys":[{"added":MICROS,"id":"16 hex digits","retired":MICROS},...],"version":1}`
    /// (`retired` only when retired, `current` once a writer chose one), with a newline.
    package func encode() -> [UInt8] {
        let keys: [[String: Any]] = entries.map { e in
            var o: [String: Any] = ["id": e.id.description, "added": e.addedMicros]
            if let r = e.retiredMicros { o["retired"] = r }
            return o
        }
        var object: [String: Any] = ["version": 1, "keys": keys]
        if let current { object["current"] = current.description }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Array(data) + [UInt8(ascii: "\n")]
    }

    package static func decode(_ bytes: [UInt8]) -> Keyring? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], (o["version"] as? NSNumber)?.intValue == 1,
              let keys = o["keys"] as? [[String: Any]] else { return nil }
        var ring = Keyring()
        if let c = o["current"] {
            guard let id = (c as? String).flatMap(OutboxKeys.ID.init) else { return nil }
            ring.current = id
        }
        for k in keys {
            guard let id = (k["id"] as? String).flatMap(OutboxKeys.ID.init), let added = (k["added"] as? NSNumber)?.int64Value,
                  ring.entry(id) == nil else { return nil }
            var retired: Int64?
            if let r = k["retired"] {
                guard let n = (r as? NSNumber)?.int64Value else { return nil }
                retired = n
            }
            ring.entries.append(Entry(id: id, addedMicros: added, retiredMicros: retired))
        }
        return ring
    }

    /// The keyring of `directory`: empty when there is none. A file that cannot be read as one throws
    /// ``OutboxError/Code/corrupt`` naming it.
    package static func read(in directory: OutboxDirectory) throws -> Keyring {
        let file: OutboxFile
        do { file = try directory.openFile(fileName, writable: false) } catch let e as OutboxError where e.errno == ENOENT {
            return Keyring()
        }
        let size = try file.size()
        guard size <= 1 << 20, let ring = decode(try file.read(at: 0, count: Int(size))) else {
            throw OutboxError(.corrupt, "not a keyring (FORMAT.md §10e)", path: directory.pathOf(fileName))
        }
        return ring
    }

    /// Writes it in place of the old one, durably.
    package func write(in directory: OutboxDirectory) throws {
        _ = try directory.createFile(Self.fileName, contents: [encode()])
    }

    /// Runs `body` holding the keyring's lock (an exclusive `flock` of the outbox directory, opened for
    /// it), so that a writer adding a key and a retire never lose each other's change.
    package static func withLock<T>(_ directory: OutboxDirectory, _ body: () throws -> T) throws -> T {
        let fd: Int32
        do { fd = try directory.sys.openat(directory.fd, ".", O_RDONLY | O_DIRECTORY, 0) } catch let e as Errno {
            throw OutboxError.failed(.open, errno: e.code, path: directory.path)
        }
        defer { directory.sys.close(fd) }
        do { try directory.sys.flock(fd, LOCK_EX) } catch let e as Errno {
            throw OutboxError.failed(.flock, errno: e.code, path: directory.path)
        }
        return try body()
    }

    /// The writer's word before it encrypts with `id`: adds it if new and makes it the current one
    /// (durably, before the first frame it seals). Throws ``OutboxError/Code/retiredKey`` when `id` was retired. A keyring that cannot be
    /// read is kept (renamed to `keyring.json.broken`, or `.broken.N`) and a new one begun (it holds no data: only which keys
    /// were retired is lost, with a warning).
    package static func noteInUse(_ id: OutboxKeys.ID, in directory: OutboxDirectory, logger: Logger) throws {
        try withLock(directory) {
            var ring: Keyring
            do { ring = try read(in: directory) } catch let e as OutboxError where e.code == .corrupt {
                // Set aside whole under a name not taken (renamed, not copied: no byte of it is lost);
                // the new keyring's create order makes the rename durable with it.
                let keptAs = SegmentSalvage.unusedName(fileName + ".broken", in: directory)
                try directory.rename(fileName, to: keptAs)
                logger.warning("the keyring could not be read: kept as \(keptAs), a new one begun (which keys were retired is lost)",
                               metadata: ["file": "\(directory.pathOf(fileName))"])
                ring = Keyring()
            }
            if let e = ring.entry(id) {
                if e.retiredMicros != nil {
                    throw OutboxError(.retiredKey, "key \(id) was retired (outbox keys retire): put a new key first in the key file",
                                      path: directory.pathOf(fileName))
                }
                if ring.current == id { return }
            } else {
                ring.entries.append(Entry(id: id, addedMicros: OutboxMessage.micros(Date()), retiredMicros: nil))
            }
            ring.current = id
            try ring.write(in: directory)
        }
    }
}
