import Foundation

/// A message as read back from the outbox: its sequence number, where it is stored, and whether it
/// has been finished.
///
/// A value with one reference inside: the relay hands each message through several stages and to every
/// route, so a copy retains one storage object, not each of the message's strings and arrays. Changing
/// a copy copies its storage first (copy on write).
public struct StoredMessage: Sendable, Equatable {
    private final class Storage: @unchecked Sendable {
        var seq: UInt64
        var message: OutboxMessage
        var segment: String
        var offset: Int64
        var compressed: Bool
        var orderingKey: String?
        var commitClock: ClockReading?

        init(seq: UInt64, message: OutboxMessage, segment: String, offset: Int64, compressed: Bool, orderingKey: String?,
             commitClock: ClockReading?) {
            (self.seq, self.message, self.segment, self.offset, self.compressed, self.orderingKey) = (seq, message, segment, offset, compressed, orderingKey)
            self.commitClock = commitClock
        }

        func copy() -> Storage {
            Storage(seq: seq, message: message, segment: segment, offset: offset, compressed: compressed, orderingKey: orderingKey,
                    commitClock: commitClock)
        }
    }

    private var storage: Storage

    /// The storage, first copied if another value shares it.
    private var unique: Storage {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
            return storage
        }
    }

    /// The sequence number assigned at commit: dense, starting at 1, never reused.
    public var seq: UInt64 {
        get { storage.seq }
        set { unique.seq = newValue }
    }
    public var message: OutboxMessage {
        _read { yield storage.message }
        _modify { yield &unique.message }
    }
    /// The segment file holding it.
    public var segment: String {
        _read { yield storage.segment }
        _modify { yield &unique.segment }
    }
    /// The byte offset of its commit's frame in ``segment``.
    public var offset: Int64 {
        get { storage.offset }
        set { unique.offset = newValue }
    }
    /// Whether the payload is stored deflate-compressed.
    public var compressed: Bool {
        get { storage.compressed }
        set { unique.compressed = newValue }
    }
    /// The key a sink must keep order within: the message's key, or (under the relay's strict order)
    /// one key shared by every message; nil means no ordering constraint.
    public var orderingKey: String? {
        _read { yield storage.orderingKey }
        _modify { yield &unique.orderingKey }
    }

    /// The clocks when its commit was appended (FORMAT.md §4c): the wall clock, the boot and the time
    /// since that boot, by which its age and its deadline are measured without trusting a wall clock
    /// that may have jumped (``ClockReading/elapsed(since:)``). Nil for a message of a file written
    /// before format version 8.
    public var commitClock: ClockReading? {
        get { storage.commitClock }
        set { unique.commitClock = newValue }
    }

    /// A stored message as the relay hands it to a sink (public so that sinks can be tested alone);
    /// the ordering key is the message's key.
    public init(seq: UInt64, message: OutboxMessage, segment: String, offset: Int64, compressed: Bool, commitClock: ClockReading? = nil) {
        storage = Storage(seq: seq, message: message, segment: segment, offset: offset, compressed: compressed, orderingKey: message.key,
                          commitClock: commitClock)
    }

    public static func == (a: StoredMessage, b: StoredMessage) -> Bool {
        a.storage === b.storage || (a.seq == b.seq && a.message == b.message && a.segment == b.segment && a.offset == b.offset
                                    && a.compressed == b.compressed && a.orderingKey == b.orderingKey && a.commitClock == b.commitClock)
    }
}

extension StoredMessage {
    /// How long ago, at `now`, the message was created, in microseconds: the time elapsed since its
    /// commit (``ClockReading/elapsed(since:)``, so a jump of the wall clock does not change it) plus how
    /// much earlier than its commit its creation time is (an app may give an older one; both read by the
    /// same wall clock at the commit). For a message of a file without commit clocks (older than format
    /// version 8), by the wall clock alone.
    public func ageMicros(at now: ClockReading) -> Int64 {
        guard let commitClock else { return now.wallMicros &- message.createdAtMicros }
        return now.elapsed(since: commitClock) &+ (commitClock.wallMicros &- message.createdAtMicros)
    }

    /// About how many bytes publishing the message puts on the wire, for an uplink cap: its payload, type,
    /// key and headers (4 bytes of framing each), the relay's own headers (id, sequence number, type and
    /// key: 96 bytes; the lane's header when it is not `normal`) and `framing`, the sink's protocol overhead
    /// per message (64 bytes unless a sink says).
    public func wireBytes(framing: Int = 64) -> Int {
        message.payload.count + message.type.utf8.count + (message.key?.utf8.count ?? 0)
            + (message.lane == .normal ? 0 : 16 + message.lane.name.utf8.count)
            + message.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 } + 96 + framing
    }

    /// About how much memory the message takes when held (payload, type, key, headers and a fixed
    /// overhead): what the relay's and the log tail's byte bounds count.
    var footprint: Int {
        message.payload.count + message.type.utf8.count + (message.key?.utf8.count ?? 0)
            + message.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count } + 128
    }
}
