import Crypto
import Foundation
import Synchronization

/// The master keys an outbox is encrypted with (FORMAT.md §10): the first is the **current** key, which
/// new segments are written with; the others are older keys, kept to read what they wrote until it is
/// compacted (rotation: put the new key first and keep the old one after it).
///
/// A key is 32 random bytes (`head -c 32 /dev/urandom > key`), or the same as 64 hexadecimal digits or
/// base64 text, one key per line. It is known by its **id** (``ID``), derived from it one way: the id is
/// what files, logs, errors and `outbox keys status` name, never the key's bytes, which no description,
/// log line, metric or error of this package contains.
///
/// **Rotation without a restart.** Keys loaded from a file (``load(file:)``, ``load(credential:from:)``)
/// follow the file: a writer looks at it again each time it starts a segment (so a new first key applies
/// from the next segment), and a reader when it meets a key id it does not know. Every copy of one value
/// shares its keys (``update(to:)`` changes them for all). Replace the file atomically (write a new one,
/// then rename it over the old): a file that cannot be read or parsed when looked at again is ignored,
/// with the keys it held before kept.
public struct OutboxKeys: Sendable, CustomStringConvertible {
    /// A key's id: the first 8 bytes of HMAC-SHA256 of the text `outbox key id v1` under the key.
    public struct ID: Hashable, Sendable, CustomStringConvertible {
        /// The 8 bytes, as a big-endian number (so the hex text reads as the bytes do).
        public let value: UInt64

        public init(value: UInt64) { self.value = value }

        /// The id as stored in an envelope (FORMAT.md §10), big-endian.
        var bytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) } }

        init(bytes: some Collection<UInt8>) { value = bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }

        /// 16 lowercase hexadecimal digits.
        public var description: String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }

        /// The id written as ``description`` prints it, if `text` is one.
        public init?(_ text: String) {
            guard text.utf8.count == 16, let v = UInt64(text, radix: 16) else { return nil }
            value = v
        }
    }

    /// One master key.
    public struct Key: Sendable {
        let material: SymmetricKey
        public let id: ID

        init(_ bytes: [UInt8]) {
            material = SymmetricKey(data: bytes)
            let mac = HMAC<SHA256>.authenticationCode(for: Array("outbox key id v1".utf8), using: material)
            id = ID(bytes: Array(mac))
        }
    }

    /// The keys, the current one first; never empty, no key twice.
    public var keys: [Key] { ring.state.withLock { $0.keys } }
    /// Shared by every copy: the keys, and the file they came from.
    private let ring: Ring
    /// Derived data keys, shared by every copy of this value (FORMAT.md §10: one per file and epoch).
    let dataKeys = DataKeyCache()

    /// The key new files are encrypted with.
    public var current: Key { ring.state.withLock { $0.keys[0] } }

    /// The key whose id is `id`, if it is one of these. Keys from a file that lack it look at the file
    /// again first (it may have been rotated since).
    public func key(_ id: ID) -> Key? {
        if let k = ring.state.withLock({ $0.keys.first { $0.id == id } }) { return k }
        guard ring.file != nil, (try? reload()) == true else { return nil }
        return ring.state.withLock { $0.keys.first { $0.id == id } }
    }

    /// Keys from their bytes, 32 each, the current one first. Throws ``OutboxError/Code/invalidArgument``
    /// for none, or for one of another length.
    public init(_ keys: [[UInt8]]) throws {
        ring = Ring(keys: try Self.keys(keys), file: nil, stamp: nil)
    }

    private init(keys: [Key], file: String, stamp: FileStamp) {
        ring = Ring(keys: keys, file: file, stamp: stamp)
    }

    /// The file these keys came from, if they came from one.
    public var file: String? { ring.file }

    /// Reads the key file again if it changed since it was read (its size, time or inode), and takes its
    /// keys; returns whether it did. Throws (one line naming the file, keeping the keys held now) when the
    /// changed file cannot be read or holds no valid key. Keys not from a file: false.
    @discardableResult
    public func reload() throws -> Bool {
        guard let path = ring.file else { return false }
        let stamp = try Self.stamp(path)
        if ring.state.withLock({ $0.stamp == stamp }) { return false }
        let (keys, newStamp) = try Self.read(file: path)
        ring.state.withLock { $0 = Ring.State(keys: keys, stamp: newStamp) }
        return true
    }

    /// Replaces the keys of this value and of every copy of it with `other`'s (rotation in a process that
    /// holds its keys in memory): a writer using them writes its next segment with `other`'s current key.
    public func update(to other: OutboxKeys) {
        let keys = other.keys
        ring.state.withLock { $0.keys = keys }
    }

    private static func keys(_ bytes: [[UInt8]]) throws -> [Key] {
        guard !bytes.isEmpty else { throw OutboxError(.invalidArgument, "no encryption key given") }
        var seen = Set<ID>()
        var out: [Key] = []
        for (i, b) in bytes.enumerated() {
            guard b.count == Self.keySize else {
                throw OutboxError(.invalidArgument, "encryption key \(i + 1) is \(b.count) bytes, not \(Self.keySize)")
            }
            let key = Key(b)
            if seen.insert(key.id).inserted { out.append(key) }
        }
        return out
    }

    /// What tells a key file changed: its size, modification time and inode.
    struct FileStamp: Equatable, Sendable {
        var size: Int
        var modified: Date?
        var inode: Int?
    }

    private final class Ring: Sendable {
        struct State {
            var keys: [Key]
            var stamp: FileStamp?
        }
        let state: Mutex<State>
        let file: String?

        init(keys: [Key], file: String?, stamp: FileStamp?) {
            state = Mutex(State(keys: keys, stamp: stamp))
            self.file = file
        }
    }

    /// The size of a key in bytes.
    public static let keySize = 32

    /// The ids only.
    public var description: String { "keys " + keys.map(\.id.description).joined(separator: ", ") }

    /// The keys of the file at `path`: exactly 32 bytes are one key; otherwise text, one key per line
    /// (64 hex digits, or base64 of 32 bytes; empty lines and lines starting with `#` are skipped). A
    /// missing, unreadable, empty or malformed file throws ``OutboxError/Code/invalidArgument`` in one line
    /// naming the file (and the line), never its content.
    public static func load(file path: String) throws -> OutboxKeys {
        let (keys, stamp) = try read(file: path)
        return OutboxKeys(keys: keys, file: path, stamp: stamp)
    }

    private static func stamp(_ path: String) throws -> FileStamp {
        do {
            let a = try FileManager.default.attributesOfItem(atPath: path)
            return FileStamp(size: (a[.size] as? NSNumber)?.intValue ?? 0, modified: a[.modificationDate] as? Date,
                             inode: (a[.systemFileNumber] as? NSNumber)?.intValue)
        } catch {
            throw OutboxError(.invalidArgument, "key file \(path) cannot be read (missing, or not readable by this user)")
        }
    }

    private static func read(file path: String) throws -> ([Key], FileStamp) {
        let data: Data
        let stamp = try stamp(path)
        if stamp.size > 64 << 10 {
            throw OutboxError(.invalidArgument, "key file \(path) is larger than 64 KiB: not a key file")
        }
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw OutboxError(.invalidArgument, "key file \(path) cannot be read (missing, or not readable by this user)")
        }
        return (try keys(parse(Array(data), source: "key file \(path)")), stamp)
    }

    /// The keys in environment variable `name` (the text form of ``load(file:)``; several keys on lines
    /// of their own, or separated by commas).
    public static func load(environment name: String, from environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OutboxKeys {
        guard let value = environment[name] else {
            throw OutboxError(.invalidArgument, "environment variable \(name) is not set: it must hold the encryption key")
        }
        return try OutboxKeys(parse(Array(value.replacingOccurrences(of: ",", with: "\n").utf8), source: "environment variable \(name)", allowRaw: false))
    }

    /// The keys of systemd credential `name` (`LoadCredential=` or `LoadCredentialEncrypted=`, which
    /// can seal it to the TPM): the file `name` in `$CREDENTIALS_DIRECTORY`, read as ``load(file:)`` does.
    public static func load(credential name: String, from environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OutboxKeys {
        guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else {
            throw OutboxError(.invalidArgument,
                              "credential \(name): CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential= or LoadCredentialEncrypted=)")
        }
        guard !name.isEmpty, !name.contains("/") else { throw OutboxError(.invalidArgument, "credential name \(name.debugDescription) is not a name") }
        return try load(file: directory + "/" + name)
    }

    /// The keys' bytes in the bytes of `source` (see ``load(file:)``).
    static func parse(_ bytes: [UInt8], source: String, allowRaw: Bool = true) throws -> [[UInt8]] {
        if bytes.isEmpty {
            throw OutboxError(.invalidArgument, "\(source) is empty (0 bytes): it must hold a key (32 bytes, 64 hex digits or base64)")
        }
        if allowRaw, bytes.count == keySize { return [bytes] }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw OutboxError(.invalidArgument, "\(source) is \(bytes.count) bytes and not text: a key is exactly 32 bytes, or text")
        }
        var keys: [[UInt8]] = []
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let key = decodeHex(line) ?? Data(base64Encoded: line).map(Array.init), key.count == keySize else {
                throw OutboxError(.invalidArgument, "line \(n + 1) of \(source) is not a key: 64 hex digits, or base64 of 32 bytes")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw OutboxError(.invalidArgument, "\(source) holds no key (only empty or comment lines)") }
        return keys
    }

    private static func decodeHex(_ s: String) -> [UInt8]? {
        let digits = Array(s.utf8)
        guard digits.count == 2 * keySize else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(keySize)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
