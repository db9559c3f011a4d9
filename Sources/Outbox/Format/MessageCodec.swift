import Foundation

/// Encodes the messages of one commit into a frame body and back (FORMAT.md §4).
///
/// ```
/// size  field
///    4  record length      bytes after this field
///   16  message id
///    8  created at         microseconds since the Unix epoch, signed
///    1  flags              bit 0: key present; bit 1: payload compressed; bit 2: lane named;
///                          bit 3: schema version present (version 8 segments); others 0
///    1  lane index         0; in a kind-14 frame, the index of its lane in the frame's summary
///    2  header count
///    2  type length, then the type (UTF-8)
///   [2  key length, then the key (UTF-8)]                       if flags bit 0
///   [4  schema version]                                          if flags bit 3
///   [1  lane length, then the lane's name (ASCII)]               if flags bit 2 (dead letters, version 6 on)
///   per header: 2 name length, name (UTF-8), 4 value length, value (UTF-8)
///    4  stored payload length
///   [4  original payload length]                                if flags bit 1
///       payload (zlib stream if flags bit 1)
/// ```
/// In a version-8 segment a message frame's records follow the commit's clock (``encodeClock(_:to:)``,
/// FORMAT.md §4c).
package enum MessageCodec {
    /// How the records of a body store their lanes (FORMAT.md §4, §4b).
    package enum Lanes {
        /// Not at all: every message is in lane `normal` (a kind-1 frame, a dead letter of an older file).
        case none
        /// By name, in the record (flags bit 2; dead letters of a version-6 file).
        case names
        /// By index into the frame's lane summary, in the record's lane-index byte (a kind-14 frame).
        case table([OutboxLane])
    }

    static let keyFlag: UInt8 = 1
    static let compressedFlag: UInt8 = 2
    static let laneFlag: UInt8 = 4
    static let schemaFlag: UInt8 = 8
    /// The size of a commit's clock (FORMAT.md §4c).
    package static let clockSize = 33

    /// Encodes `messages`; payloads of at least `compressionThreshold` bytes are deflated when that
    /// makes them smaller. Throws ``OutboxError/Code/recordTooLarge`` if the body would exceed
    /// `maxBody`, and ``OutboxError/Code/invalidArgument`` for a field too long for its length prefix.
    /// `lanes` says how each message's lane is stored (with ``Lanes/table(_:)`` every message's lane must be
    /// in the table; with ``Lanes/none`` lanes are left out). `prefix` is written before the first record (a
    /// lane summary, §4b), then `clock`, the commit's clock (a version-8 segment's message frame, §4c).
    /// Schema versions are stored (flags bit 3) only with a clock: elsewhere (dead letters) they are the
    /// caller's to keep.
    package static func encode(_ messages: [OutboxMessage], compressionThreshold: Int?, maxBody: Int, lanes: Lanes = .none,
                               prefix: [UInt8] = [], clock: ClockReading? = nil) throws -> [UInt8] {
        guard !messages.isEmpty else { throw OutboxError(.invalidArgument, "a commit needs at least one message") }
        if let big = messages.first(where: { $0.payload.count > maxBody }) {
            throw OutboxError(
                .recordTooLarge,
                "a payload of \(big.payload.count) bytes is more than the max record size of \(maxBody) bytes (payloads are limited before compression)")
        }
        var w = ByteWriter(capacity: prefix.count + messages.reduce(0) { $0 + 64 + $1.payload.count })
        w.append(prefix)
        if let clock { encodeClock(clock, to: &w) }
        for m in messages {
            let start = w.bytes.count
            w.u32(0)
            w.append(m.id.bytes)
            w.i64(m.createdAtMicros)
            var payload = m.payload
            var flags: UInt8 = m.key == nil ? 0 : keyFlag
            var (laneName, laneIndex): ([UInt8]?, UInt8) = (nil, 0)
            switch lanes {
            case .none: break
            case .names: if m.lane != .normal { laneName = Array(m.lane.name.utf8) }
            case .table(let table): laneIndex = UInt8(table.firstIndex(of: m.lane)!)  // the summary holds every lane of the commit
            }
            if laneName != nil { flags |= laneFlag }
            let schemaVersion = clock == nil ? nil : m.schemaVersion
            if schemaVersion != nil { flags |= schemaFlag }
            if let threshold = compressionThreshold, payload.count >= threshold, let packed = Deflate.compress(payload) {
                payload = packed
                flags |= compressedFlag
            }
            w.u8(flags)
            w.u8(laneIndex)
            guard m.headers.count <= Int(UInt16.max) else { throw tooLong("header count", m) }
            w.u16(UInt16(m.headers.count))
            try string16(&w, m.type, "type", m)
            if let key = m.key { try string16(&w, key, "key", m) }
            if let schemaVersion {
                guard let v = UInt32(exactly: schemaVersion) else { throw tooLong("schema version", m) }
                w.u32(v)
            }
            if let laneName {
                w.u8(UInt8(laneName.count))  // at most 32 (OutboxLane.nameProblem, checked at append)
                w.append(laneName)
            }
            for h in m.headers {
                try string16(&w, h.name, "header name", m)
                let v = h.value.utf8
                guard v.count <= Int(UInt32.max) else { throw tooLong("header value", m) }
                w.u32(UInt32(v.count))
                w.append(v)
            }
            guard payload.count <= Int(UInt32.max) else { throw tooLong("payload", m) }
            w.u32(UInt32(payload.count))
            if flags & compressedFlag != 0 { w.u32(UInt32(m.payload.count)) }
            w.append(payload)
            let length = w.bytes.count - start - 4
            if w.bytes.count > maxBody {
                throw OutboxError(
                    .recordTooLarge,
                    "commit of \(messages.count) message(s) needs at least \(w.bytes.count) bytes, more than the max record size of \(maxBody) bytes")
            }
            w.set32(UInt32(length), at: start)
        }
        return w.bytes
    }

    private static func string16(_ w: inout ByteWriter, _ s: String, _ what: String, _ m: OutboxMessage) throws {
        let b = s.utf8
        guard b.count <= Int(UInt16.max) else { throw tooLong(what, m) }
        w.u16(UInt16(b.count))
        w.append(b)
    }

    private static func tooLong(_ what: String, _ m: OutboxMessage) -> OutboxError {
        OutboxError(.invalidArgument, "message \(m.id): \(what) is too long for its length field")
    }

    /// One decoded record and whether its payload was stored compressed.
    package struct Decoded {
        package var message: OutboxMessage
        package var compressed: Bool
    }

    /// Decodes exactly `count` records filling `body`. Lengths are checked against the bytes left before
    /// anything is allocated; decompressed sizes are bounded by `maxBody`.
    package static func decode(_ body: [UInt8], count: Int, maxBody: Int, from start: Int = 0, lanes: Lanes = .none,
                               stamped: Bool = false) throws(DecodeError) -> [Decoded] {
        var out: [Decoded] = []
        out.reserveCapacity(min(count, body.count / 40 + 1))
        try decode(body, count: count, maxBody: maxBody, from: start, lanes: lanes, stamped: stamped) { _, message, compressed in
            out.append(Decoded(message: message, compressed: compressed))
        }
        return out
    }

    /// Decodes exactly `count` records filling `body`, handing each to `each` with its index, as it is
    /// decoded (no array of them is built). Type and key texts repeated from record to record are
    /// shared, not validated and stored again. The records start at `start` (after a lane summary); `lanes`
    /// says how they store their lanes. `stamped`: a version-8 segment's message frame, whose records follow
    /// the commit's clock (read with ``decodeClock(_:at:)``) and may carry schema versions.
    package static func decode(_ body: [UInt8], count: Int, maxBody: Int, from start: Int = 0, lanes: Lanes = .none,
                               stamped: Bool = false, each: (Int, consuming OutboxMessage, Bool) -> Void) throws(DecodeError) {
        if stamped { _ = try decodeClock(body, at: start) }
        var r = ByteReader(body, from: start + (stamped ? clockSize : 0))
        var texts = RepeatedTexts()
        let (byName, table): (Bool, [OutboxLane]) = switch lanes {
        case .none: (false, [])
        case .names: (true, [])
        case .table(let t): (false, t)
        }
        for index in 0..<count {
            let recordLength = Int(try r.u32("record length"))
            guard recordLength <= r.remaining else {
                throw DecodeError("record length \(recordLength) exceeds the \(r.remaining) bytes left in the frame", at: r.index - 4)
            }
            let recordEnd = r.index + recordLength
            var m = ByteReader(body, from: r.index, to: recordEnd)
            let id = MessageID(bytes: try m.bytes(16, "message id"))
            let created = try m.i64("created at")
            let flags = try m.u8("flags")
            guard flags & ~(keyFlag | compressedFlag | (byName ? laneFlag : 0) | (stamped ? schemaFlag : 0)) == 0 else {
                throw DecodeError("unknown record flags \(flags)", at: m.index - 1)
            }
            let laneIndex = Int(try m.u8("lane index"))
            var lane = OutboxLane.normal
            if !table.isEmpty {
                guard laneIndex < table.count else {
                    throw DecodeError("lane index \(laneIndex) is not in the frame's \(table.count) lanes", at: m.index - 1)
                }
                lane = table[laneIndex]
            } else if laneIndex != 0 {
                throw DecodeError("reserved byte is not zero", at: m.index - 1)
            }
            let headerCount = Int(try m.u16("header count"))
            let type = try m.string(Int(try m.u16("type length")), "type", reusing: &texts.type)
            var key: String?
            if flags & keyFlag != 0 {
                let n = Int(try m.u16("key length"))
                key = try m.string(n, "key", reusing: &texts.keys[texts.slot(m.peek(n))])
            }
            let schemaVersion = flags & schemaFlag != 0 ? Int(try m.u32("schema version")) : nil
            if flags & laneFlag != 0 { lane = try namedLane(&m, reusing: &texts.lane) }
            var headers: [OutboxMessage.Header] = []
            headers.reserveCapacity(min(headerCount, m.remaining / 6))
            for _ in 0..<headerCount {
                let name = try m.string(Int(try m.u16("header name length")), "header name")
                let value = try m.string(Int(try m.u32("header value length")), "header value")
                headers.append(.init(name, value))
            }
            let compressed = flags & compressedFlag != 0
            let payload = try decodePayload(&m, compressed: compressed, maxBody: maxBody)
            guard m.remaining == 0 else { throw DecodeError("\(m.remaining) unexpected bytes after the payload", at: m.index) }
            var message = OutboxMessage(id: id, type: type, key: key, headers: headers, payload: payload, lane: lane)
            message.createdAtMicros = created
            message.schemaVersion = schemaVersion
            each(index, message, compressed)
            r = ByteReader(body, from: recordEnd)
        }
        guard r.remaining == 0 else { throw DecodeError("\(r.remaining) bytes left after the last record", at: r.index) }
    }

    /// Writes a commit's clock (FORMAT.md §4c):
    ///
    /// ```
    /// size  field
    ///    8  wall clock         microseconds since the Unix epoch, signed
    ///   16  boot id            all zeros when unknown
    ///    8  time since boot    microseconds (CLOCK_BOOTTIME), signed, at least 0
    ///    1  clock flags        bit 0: the wall clock was synchronized; others 0
    /// ```
    static func encodeClock(_ clock: ClockReading, to w: inout ByteWriter) {
        w.i64(clock.wallMicros)
        w.append(withUnsafeBytes(of: clock.bootID.uuid) { Array($0) })
        w.i64(max(0, clock.bootMicros))
        w.u8(clock.wallSynchronized ? 1 : 0)
    }

    /// The commit's clock at `start` of a version-8 message frame's body (after a lane summary).
    package static func decodeClock(_ body: [UInt8], at start: Int) throws(DecodeError) -> ClockReading {
        var r = ByteReader(body, from: start)
        let wall = try r.i64("commit wall clock")
        let boot = Array(try r.bytes(16, "boot id"))
        let sinceBoot = try r.i64("time since boot")
        guard sinceBoot >= 0 else { throw DecodeError("a negative time since boot \(sinceBoot)", at: r.index - 8) }
        let flags = try r.u8("clock flags")
        guard flags & ~1 == 0 else { throw DecodeError("unknown clock flags \(flags)", at: r.index - 1) }
        let id = boot.withUnsafeBytes { UUID(uuid: $0.loadUnaligned(as: uuid_t.self)) }
        return ClockReading(wallMicros: wall, bootID: id, bootMicros: sinceBoot, wallSynchronized: flags == 1)
    }

    /// A record's payload: its stored length, then (compressed) its original length and a zlib stream that
    /// must inflate to exactly that, else the raw bytes. Claims are checked before anything is allocated.
    private static func decodePayload(_ m: inout ByteReader, compressed: Bool, maxBody: Int) throws(DecodeError) -> [UInt8] {
        let storedLength = Int(try m.u32("payload length"))
        guard compressed else { return Array(try m.bytes(storedLength, "payload")) }
        let originalLength = Int(try m.u32("original payload length"))
        guard originalLength <= maxBody else {
            throw DecodeError("original payload length \(originalLength) exceeds the max record size", at: m.index - 4)
        }
        // Deflate expands at most about 1032:1, so a larger claim is damage, and nothing is allocated for it.
        guard originalLength <= storedLength * 1032 + 64 else {
            throw DecodeError("original payload length \(originalLength) is impossible for \(storedLength) compressed bytes", at: m.index - 4)
        }
        let at = m.index
        let packed = try m.bytes(storedLength, "payload")
        guard let inflated = Deflate.decompress(packed, expectedLength: originalLength) else {
            throw DecodeError("compressed payload does not inflate to \(originalLength) bytes", at: at)
        }
        return inflated
    }

    /// A lane stored by name (flags bit 2): a valid name, never `normal` (stored as no lane).
    private static func namedLane(_ m: inout ByteReader, reusing previous: inout String?) throws(DecodeError) -> OutboxLane {
        let at = m.index
        let name = try m.string(Int(try m.u8("lane length")), "lane", reusing: &previous)
        if let problem = OutboxLane.nameProblem(name) { throw DecodeError("lane name \(problem)", at: at) }
        if name == OutboxLane.normal.name { throw DecodeError("lane normal is stored as no lane, never by name", at: at) }
        return OutboxLane(name)
    }

    /// The texts the records of one frame repeat: the last type, and keys in a small table by a hash of
    /// their bytes (a frame's messages usually share a type and cycle through a few keys).
    private struct RepeatedTexts {
        var type: String?
        var lane: String?
        var keys = [String?](repeating: nil, count: 64)

        func slot(_ bytes: ArraySlice<UInt8>) -> Int {
            var h: UInt32 = 2_166_136_261  // FNV-1a
            for b in bytes { h = (h ^ UInt32(b)) &* 16_777_619 }
            return Int(h & 63)
        }
    }
}
