/// The lanes of a commit whose messages are not all in lane `normal` (FORMAT.md §4b): a frame of kind 14
/// begins with them, before its records, so that a reader following one lane tells from these few bytes
/// whether the frame holds anything of its lane, without decoding a record.
///
/// ```
/// size  field
///    1  lane count n (1 ... 255)
///   per lane: 1 name length (1 ... 32), the name (ASCII)
/// ```
/// The lanes are the distinct lanes of the frame's records, `normal` included, in the order of their
/// first record; the records follow (§4), each with the index of its lane in its lane-index byte.
package struct LaneSummary: Equatable, Sendable {
    /// The lanes' names, in the order of their first record.
    package var lanes: [String]
    /// Where the records begin in the body.
    package var recordsStart: Int

    /// The summary naming `names` (``lanes(of:)``: 1 to 255 distinct valid names), encoded.
    static func encode(_ names: [String]) -> [UInt8] {
        precondition((1...255).contains(names.count), "a lane summary names 1 to 255 lanes")
        var w = ByteWriter(capacity: 1 + names.reduce(0) { $0 + 1 + $1.utf8.count })
        w.u8(UInt8(names.count))
        for n in names {
            w.u8(UInt8(n.utf8.count))
            w.append(n.utf8)
        }
        return w.bytes
    }

    /// The distinct lanes of `messages` in the order of their first message.
    static func lanes(of messages: [OutboxMessage]) -> [String] {
        var names: [String] = []
        for m in messages where !names.contains(m.lane.name) { names.append(m.lane.name) }
        return names
    }

    /// The summary at the start of a kind-14 body.
    package static func decode(_ body: [UInt8]) throws(DecodeError) -> LaneSummary {
        var r = ByteReader(body)
        let n = Int(try r.u8("lane count"))
        guard n >= 1 else { throw DecodeError("a lane summary names no lane", at: 0) }
        var names: [String] = []
        names.reserveCapacity(n)
        for _ in 0..<n {
            let at = r.index
            let name = try r.string(Int(try r.u8("lane name length")), "lane name")
            if let problem = OutboxLane.nameProblem(name) { throw DecodeError("lane name \(problem)", at: at) }
            if names.contains(name) { throw DecodeError("lane \(name) is named twice", at: at) }
            names.append(name)
        }
        return LaneSummary(lanes: names, recordsStart: r.index)
    }

    /// Decodes the records of a kind-14 body, handing each to `each` as ``MessageCodec`` does, and checks
    /// that the summary names exactly their lanes in the order of their first record.
    /// `stamped`: the records follow the commit's clock (a version-8 segment, FORMAT.md §4c).
    package static func decodeFrame(_ body: [UInt8], count: Int, maxBody: Int, stamped: Bool,
                                    each: (Int, consuming OutboxMessage, Bool) -> Void) throws(DecodeError) {
        let summary = try decode(body)
        // The index of the next lane not seen yet: records name the lanes in order of first use.
        var seen = 0
        var outOfOrder: Int?
        try MessageCodec.decode(body, count: count, maxBody: maxBody, from: summary.recordsStart,
                                lanes: .table(summary.lanes.map { OutboxLane($0) }), stamped: stamped) { i, m, compressed in
            let lane = m.lane.name
            if seen < summary.lanes.count, lane == summary.lanes[seen] {
                seen += 1
            } else if outOfOrder == nil, !summary.lanes[..<seen].contains(lane) {
                outOfOrder = i
            }
            each(i, m, compressed)
        }
        if let outOfOrder {
            throw DecodeError("record \(outOfOrder) is in a lane the summary names after a lane no record used yet", at: 0)
        }
        guard seen == summary.lanes.count else {
            throw DecodeError("the lane summary names \(summary.lanes.count) lanes but the records use \(seen)", at: 0)
        }
    }

    /// This summary's lane filter (``filterBit(_:)`` of each lane).
    package var filter: UInt64 { lanes.reduce(0) { $0 | Self.filterBit($1) } }

    /// The bit of a lane in a segment's lane filter (FORMAT.md §3a): bit (CRC-32 of its name) mod 64.
    package static func filterBit(_ lane: String) -> UInt64 { 1 << UInt64(CRC32.of(Array(lane.utf8)) % 64) }

    /// The lane filter of a checked frame: lane `normal` for kind 1, its summary's lanes for kind 14,
    /// none for other kinds (all bits if a summary does not decode: a filter may say too much, never too
    /// little).
    package static func filter(kind: FrameKind, body: [UInt8]) -> UInt64 {
        switch kind {
        case .messages: normalBit
        case .laneMessages: summaryFilter(body)
        default: 0
        }
    }

    /// The filter of the summary at the start of `body`, read in place (no names are built): all bits
    /// when it does not parse.
    private static func summaryFilter(_ body: [UInt8]) -> UInt64 {
        body.withUnsafeBytes { raw -> UInt64 in
            guard let n = raw.first, n > 0 else { return ~0 }
            var (at, filter): (Int, UInt64) = (1, 0)
            for _ in 0..<Int(n) {
                guard at < raw.count else { return ~0 }
                let length = Int(raw[at])
                guard at + 1 + length <= raw.count else { return ~0 }
                filter |= 1 << UInt64(CRC32.of(UnsafeRawBufferPointer(rebasing: raw[(at + 1)..<(at + 1 + length)])) % 64)
                at += 1 + length
            }
            return filter
        }
    }

    /// ``filter(kind:body:)`` of a whole frame's bytes (24-byte header, then the body).
    static func filter(ofFrame bytes: [UInt8]) -> UInt64 {
        guard bytes.count > FrameHeader.size, let kind = FrameKind(rawValue: UInt16(bytes[20]) | UInt16(bytes[21]) << 8) else { return 0 }
        return filter(kind: kind, body: Array(bytes[FrameHeader.size...]))
    }

    /// The filter bit of lane `normal`, the lane of every kind-1 frame.
    package static let normalBit = filterBit(OutboxLane.normal.name)
}
