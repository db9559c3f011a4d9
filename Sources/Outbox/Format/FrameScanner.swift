/// Walks the frames of one file in order, checking each (bounds before allocating, checksum bound to the
/// file and offset, kind, count, flags, and a caller-supplied body check).
///
/// It reads through a window of at most `max(1 MiB, max record size + 24)` bytes, so memory stays bounded
/// whatever the file holds. It never changes the file; what to do about damage is the caller's policy.
package final class FrameScanner {
    enum Step {
        case frame(Frame)
        case damage(FrameDamage)
        case end
    }

    let file: OutboxFile
    let identity: FileIdentity
    let maxBody: UInt32
    let kinds: Set<FrameKind>
    /// The file's format version: from version 4 every frame carries the tag of its write (FORMAT.md §3).
    let version: UInt16
    /// Checks a body whose checksum matched; returns a reason to reject it, or nil.
    let validate: (FrameHeader, [UInt8]) -> String?
    var size: Int64
    /// Where the next frame is expected.
    var offset: Int64 {
        didSet { if let s = seal, offset <= s.offset { seal = nil } }
    }
    /// The segment's seal (FORMAT.md §3a), once the walk has passed it. Only zeros to the end of the file
    /// may follow it; any other byte after it is damage that is never a torn tail.
    private(set) var seal: Seal?
    /// Whether ``next()`` returns the seal as a frame (a raw walk); otherwise it is taken in here, and the
    /// walk goes on to what follows it.
    var returnsSeal = false
    /// A reader of some lanes (the relay reads each lane by its own position): ``next()`` passes over a
    /// message frame that holds none of its lanes, from its header (and a kind-14 frame's lane summary)
    /// alone, without reading its body or checking its checksum, and returns it with
    /// ``Frame/passedOver`` set. Only a frame that is plausibly the next one (its numbers start at
    /// ``expectedFirst``; kind, length, count and write tag possible; within the file) and whose numbers
    /// end at or below ``passOverThrough`` (durable: its bytes never change again) is passed over so;
    /// any other is checked in full. Every frame is still checked by the reader of its own lanes.
    var passOver: LaneSelection? {
        didSet { passOverNormal = passOver.map { !$0.contains(OutboxLane.normal.name) } ?? false }
    }
    /// Whether ``passOver`` passes over kind-1 frames (lane `normal`).
    private var passOverNormal = false
    /// The first number the next frame starts at (the segment's base at first), for ``passOver``.
    var expectedFirst: UInt64?
    /// The last number known durable (see ``passOver``).
    var passOverThrough: UInt64 = 0

    /// The read window: `windowLength` bytes from `windowStart` (the storage is reused).
    private var window: [UInt8] = []
    private var windowLength = 0
    private var windowStart: Int64 = 0
    /// Whether the window was read before the last ``refreshSize()``: its bytes are then trusted only
    /// while they check out (a writer that cut a torn tail and wrote again changed them).
    private var windowIsOld = false
    /// Set while the window is re-read after its bytes did not check out.
    private var smallReload = false
    /// The run of frames with one write tag that ends where the last frame ``next()`` returned ends: its
    /// tag, where it starts and where it ends (FORMAT.md §7, the torn last write).
    private(set) var lastRun: (tag: UInt16, start: Int64, end: Int64)?
    /// Zeros from `offset` to the end of a file of `size` bytes, as last checked.
    private var verifiedZero: (offset: Int64, size: Int64)?
    private static let chunk = 1 << 20

    init(file: OutboxFile, identity: FileIdentity, maxBody: UInt32, version: UInt16, kinds: Set<FrameKind>, size: Int64,
         start: Int64 = Int64(FileHeader.size), validate: @escaping (FrameHeader, [UInt8]) -> String? = { _, _ in nil }) {
        self.file = file
        self.identity = identity
        self.maxBody = maxBody
        self.version = version
        self.kinds = kinds
        self.size = size
        self.offset = start
        self.validate = validate
    }

    /// Re-reads the file size (for following a file that grows). The read window is kept: an append-only
    /// file's bytes do not change, so a follower reads only what was added (the window is dropped if the
    /// file shrank, and re-read if an old window's bytes do not check out).
    func refreshSize() throws {
        size = try file.size()
        if windowStart + Int64(windowLength) > size {
            windowLength = 0
        } else {
            windowIsOld = windowLength > 0
        }
    }

    /// The frame at ``offset`` (advancing past it), the damage found there, or the end of the file.
    func next() throws -> Step {
        if offset >= size { return .end }
        if seal != nil {
            // A roll trims the zeros allocated ahead as it seals: judge what follows a seal by the file's
            // size now, not by the size it had when the walk began.
            try refreshSize()
            if offset >= size { return .end }
        }
        if seal == nil, passOver != nil, let frame = try peekPassingOver(at: offset) {
            offset = frame.end
            noteRun(frame)
            expectedFirst = frame.header.first + UInt64(frame.header.count)
            return .frame(frame)
        }
        var result = try check(at: offset)
        if case .failure = result, windowIsOld {
            // Bytes read before the file was last looked at may be stale: judge on fresh ones.
            windowLength = 0
            windowIsOld = false
            // A follower at the end of what is written: read a little, not a whole window of zeros.
            smallReload = true
            defer { smallReload = false }
            result = try check(at: offset)
        }
        if let seal {
            // Nothing but the writer's allocated zeros may follow a seal.
            switch result {
            case .success(let frame):
                return .damage(FrameDamage(offset: frame.offset, reason: "a frame after the segment's seal (at offset \(seal.offset))",
                                           afterSeal: true))
            case .failure(var damage):
                damage.reason = "bytes after the segment's seal (at offset \(seal.offset)): " + damage.reason
                damage.afterSeal = true
                return .damage(damage)
            }
        }
        switch result {
        case .success(let frame):
            offset = frame.end
            noteRun(frame)
            if frame.header.kind != .seal { expectedFirst = frame.header.first + UInt64(frame.header.count) }
            if frame.header.kind == .seal {
                seal = Seal(frame)
                if !returnsSeal { return try next() }
            }
            return .frame(frame)
        case .failure(let damage):
            return .damage(damage)
        }
    }

    /// Extends ``lastRun`` by `frame`, or begins a new run with it.
    private func noteRun(_ frame: Frame) {
        if let run = lastRun, run.tag == frame.header.flags, run.end == frame.offset {
            lastRun = (run.tag, run.start, frame.end)
        } else {
            lastRun = (frame.header.flags, frame.offset, frame.end)
        }
    }

    /// The message frame at `at` if ``passOver`` passes over it (see there), read from its header and
    /// lane summary alone; nil when it must be checked in full.
    private func peekPassingOver(at: Int64) throws -> Frame? {
        guard let selection = passOver, let expected = expectedFirst, size - at >= Int64(FrameHeader.size) else { return nil }
        if windowIsOld {
            // Bytes read before the size was last looked at: read again (a few, the follower's way).
            windowLength = 0
            windowIsOld = false
            smallReload = true
        }
        defer { smallReload = false }
        let headerBytes = try load(at, FrameHeader.size)
        guard headerBytes.count == FrameHeader.size else { return nil }
        let h = headerBytes.withUnsafeBytes { FrameHeader.peek(UnsafeRawBufferPointer($0)) }
        guard h.length >= 1, h.length <= maxBody, h.count >= 1, h.first == expected,
              FrameHeader.numbersFit(first: h.first, count: h.count), h.first + UInt64(h.count) - 1 <= passOverThrough,
              at + Int64(FrameHeader.size) + Int64(h.length) <= size, FrameHeader.flagsAreValid(h.flags, version: version),
              let kind = FrameKind(rawValue: h.kind), kind.holdsMessages, kinds.contains(kind) else { return nil }
        var filter = LaneSummary.normalBit
        if kind == .laneMessages {
            let prefix = Array(try load(at + Int64(FrameHeader.size), min(Int(h.length), 1024)))
            guard let summary = try? LaneSummary.decode(prefix), !selection.takesAny(of: summary.lanes) else { return nil }
            filter = summary.filter
        } else if !passOverNormal {
            return nil
        }
        let header = FrameHeader(bodyLength: h.length, first: h.first, count: h.count, kind: kind, flags: h.flags)
        return Frame(offset: at, header: header, body: [], passedOver: filter)
    }

    /// The seal at the very end of the file, if the file ends with a valid one: open's check of a sealed
    /// segment (FORMAT.md §7), two reads whatever the segment holds. Does not move ``offset``.
    func sealAtEnd() throws -> Seal? {
        let sealSize = Seal.frameSize(version)
        guard kinds.contains(.seal), size >= Int64(FileHeader.size + sealSize) else { return nil }
        guard case .success(let frame) = try check(at: size - Int64(sealSize)), frame.header.kind == .seal,
              frame.end == size, frame.body.count == Seal.bodySize(version) else { return nil }
        return Seal(frame)
    }

    /// Up to `count` bytes at `at` (fewer at end of file), through the read window.
    private func load(_ at: Int64, _ count: Int) throws -> ArraySlice<UInt8> {
        let available = Int(max(0, min(Int64(count), size - at)))
        if at >= windowStart, at + Int64(available) <= windowStart + Int64(windowLength) {
            let lo = Int(at - windowStart)
            return window[lo..<(lo + available)]
        }
        let want = Int(min(Int64(max(available, smallReload ? Self.chunk / 16 : Self.chunk)), size - at))
        windowLength = try file.read(at: at, count: want, into: &window)
        windowStart = at
        windowIsOld = false
        return window[0..<min(available, windowLength)]
    }

    /// Checks the frame at `at` without moving ``offset``.
    func check(at offset: Int64) throws -> Result<Frame, FrameDamage> {
        let at = offset
        func damage(_ reason: String, whole: Bool = false, zeroHeader: Bool = false) throws -> Result<Frame, FrameDamage> {
            .failure(FrameDamage(offset: at, reason: reason, whole: whole, zeroHeader: zeroHeader))
        }
        let left = size - at
        if left < Int64(FrameHeader.size) {
            let zero = try load(at, Int(left)).allSatisfy { $0 == 0 }
            return try damage("truncated frame header: \(left) bytes before end of file, a header needs \(FrameHeader.size)", zeroHeader: zero)
        }
        let headerBytes = Array(try load(at, FrameHeader.size))
        guard headerBytes.count == FrameHeader.size else { return try damage("file shrank while reading") }
        let h = headerBytes.withUnsafeBytes { FrameHeader.peek($0) }
        if h.crc == 0 && h.length == 0 && h.count == 0 && h.kind == 0 {
            return try damage("zero-filled bytes where a frame header should be", zeroHeader: headerBytes.allSatisfy { $0 == 0 })
        }
        guard h.length >= 1, h.length <= maxBody else {
            return try damage("frame body length \(h.length) is outside 1...\(maxBody) (the max record size)")
        }
        let end = at + Int64(FrameHeader.size) + Int64(h.length)
        guard end <= size else {
            return try damage("frame of \(h.length) body bytes runs past end of file (\(left - Int64(FrameHeader.size)) bytes left)")
        }
        let body = Array(try load(at + Int64(FrameHeader.size), Int(h.length)))
        guard body.count == Int(h.length) else { return try damage("file shrank while reading") }
        let prefix = headerBytes.withUnsafeBytes { FrameHeader.prefixCRC(identity: identity, offset: at, header: $0) }
        let crc = CRC32.combine(prefix, CRC32.of(body), lengthOfB: body.count)
        guard crc == h.crc else { return try damage("frame checksum mismatch") }
        // The checksum matches: the frame was written whole, so from here on nothing is a torn tail.
        guard FrameHeader.flagsAreValid(h.flags, version: version) else {
            return try damage(version >= FrameHeader.taggedVersion ? "frame flags \(h.flags) are not a write tag" : "unknown frame flags \(h.flags)",
                              whole: true)
        }
        guard let kind = FrameKind(rawValue: h.kind), kinds.contains(kind) else {
            return try damage("unexpected frame kind \(h.kind)", whole: true)
        }
        guard h.count >= 1 else { return try damage("frame holds a count of 0", whole: true) }
        if kind.holdsMessages || kind == .hole, !FrameHeader.numbersFit(first: h.first, count: h.count) {
            return try damage("frame's sequence numbers from \(h.first) (\(h.count) of them) run past 2^64 - 2", whole: true)
        }
        // A seal's size is part of its structure (FORMAT.md §3a): checked by every reader, not only where
        // bodies are decoded.
        if kind == .seal, body.count != Seal.bodySize(version) {
            return try damage("a seal's body is \(body.count) bytes, not \(Seal.bodySize(version))", whole: true)
        }
        let header = FrameHeader(bodyLength: h.length, first: h.first, count: h.count, kind: kind, flags: h.flags)
        if let reason = validate(header, body) { return try damage("frame content is invalid: \(reason)", whole: true) }
        return .success(Frame(offset: at, header: header, body: body))
    }

    /// Checks the frame at `offset` again on bytes read now (the window is dropped): damage followed by
    /// a valid frame may be a frame that a writer was still writing when the window was read, while the
    /// frame after it was read later. A writer writes in file order, so a frame seen whole after it means
    /// that it is whole now.
    func checkFresh(at offset: Int64) throws -> Result<Frame, FrameDamage> {
        windowLength = 0
        windowIsOld = false
        smallReload = true
        defer { smallReload = false }
        return try check(at: offset)
    }

    /// Whether every byte from `offset` to the end of the file is zero: space the writer allocated ahead
    /// of its frames (FORMAT.md §7). Remembered for the file's size, so a follower that finds the same
    /// zero header again does not read the zeros again.
    func isZeroToEnd(from offset: Int64) throws -> Bool {
        if let z = verifiedZero, z.offset == offset, z.size == size { return true }
        guard try firstNonZero(from: offset) == nil else { return false }
        verifiedZero = (offset, size)
        return true
    }

    /// The offset of the first non-zero byte at or after `from`, if any (a word at a time).
    private func firstNonZero(from: Int64) throws -> Int64? {
        var at = from
        while at < size {
            let bytes = try load(at, Int(min(Int64(Self.chunk), size - at)))
            if bytes.isEmpty { return nil }
            let found = bytes.withUnsafeBytes { raw -> Int? in
                var i = 0
                while i + 8 <= raw.count, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) == 0 { i += 8 }
                while i < raw.count {
                    if raw[i] != 0 { return i }
                    i += 1
                }
                return nil
            }
            if let found { return at + Int64(found) }
            at += Int64(bytes.count)
        }
        return nil
    }

    /// Whether `damage`, which a valid frame follows at `following`, is the file's last write cut short
    /// (FORMAT.md §7): the file's version tags its writes; every valid frame from `damage` to the end of
    /// the file carries one tag `T`, with nothing between or after them but damage that could be torn,
    /// or zeros to the end; and `T` is the tag of a write that began where the run of `T`-tagged frames
    /// just before the damage began, or at the damage itself when there is none. The writer writes the
    /// next write only after the previous one's `fdatasync` returned, so such bytes were never
    /// acknowledged: their pages reached the disk in another order than the file's (no disk promises
    /// order within a write). Damage in a write before the last one, or frames of two writes after it,
    /// are corruption.
    func isTornLastWrite(_ damage: FrameDamage, following: Int64) throws -> Bool {
        guard version >= FrameHeader.taggedVersion, damage.canBeTorn else { return false }
        var tag: UInt16?
        var at = following
        scan: while at < size {
            switch try check(at: at) {
            case .success(let frame):
                guard tag == nil || tag == frame.header.flags else { return false }
                tag = frame.header.flags
                at = frame.end
            case .failure(let d):
                if d.zeroHeader, try isZeroToEnd(from: d.offset) { break scan }
                guard d.canBeTorn else { return false }
                guard let next = try nextValidFrame(after: d.offset) else { break scan }
                at = next
            }
        }
        guard let tag else { return false }
        let start = lastRun.flatMap { $0.tag == tag && $0.end == damage.offset ? $0.start : nil } ?? damage.offset
        return FrameHeader.writeTag(start: start, version: version) == tag
    }

    /// The offset of the first valid frame after `after`, if any: used to tell a torn tail (nothing
    /// valid follows) from damage in the middle of a file (something valid follows).
    func nextValidFrame(after: Int64) throws -> Int64? {
        var at = after + 1
        while at + Int64(FrameHeader.size) <= size {
            let head = try load(at, FrameHeader.size)
            if head.count < FrameHeader.size { return nil }
            if head.allSatisfy({ $0 == 0 }) {
                // A run of zeros (space allocated ahead): a header's length field is not zero, so no frame
                // starts more than 7 bytes before the next non-zero byte.
                guard let nonZero = try firstNonZero(from: at) else { return nil }
                at = max(at + 1, nonZero - 7)
                continue
            }
            let plausible = Array(head).withUnsafeBytes { raw -> Bool in
                let h = FrameHeader.peek(raw)
                return h.length >= 1 && h.length <= maxBody && h.count >= 1 && FrameHeader.flagsAreValid(h.flags, version: version)
                    && FrameKind(rawValue: h.kind) != nil
                    && at + Int64(FrameHeader.size) + Int64(h.length) <= size
            }
            if plausible, case .success = try check(at: at) { return at }
            at += 1
        }
        return nil
    }
}
