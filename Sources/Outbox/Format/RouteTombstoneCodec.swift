/// Encodes the route frames of tombstone files (FORMAT.md §5c) and back.
///
/// A route-ranges frame (kind 11) body: the status (one byte: 2 published, 3 dead, 8 expired), the
/// route's name (one byte of length, 1 to 64, then that many bytes of `A-Z a-z 0-9 . _ -`), then the
/// ranges as in a published frame (§5, `count` ranges from the header's `first`). A route-start frame
/// (kind 13) body: the name alone; its `count` is 1 and its `first` the first number the route serves.
/// In the dead-letter file (FORMAT.md §5a), a kind-11 frame is a route's mark: status 5 (redriven) or 7
/// (redrive requested), applying to that route's dead letters only.
package enum RouteTombstoneCodec {
    /// The longest route name.
    static let maxNameLength = 64

    /// Why `name` cannot name a route, or nil.
    package static func nameProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maxNameLength else { return "a route name is 1 to \(maxNameLength) characters, not \(bytes.count)" }
        guard bytes.allSatisfy(isNameByte) else { return "a route name holds only letters, digits, '.', '_' and '-': \(name.debugDescription)" }
        return nil
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
    }

    /// The statuses a route records (tombstone files).
    static let statuses: Set<FrameKind> = [.published, .dead, .expired]
    /// The marks a route's redrive writes (dead-letter file).
    static let marks: Set<FrameKind> = [.redriven, .redriveRequested]

    package static func encodeRanges(route: String, status: FrameKind, _ ranges: ArraySlice<ClosedRange<UInt64>>) -> [UInt8] {
        [UInt8(status.rawValue)] + name(route) + TombstoneCodec.encode(ranges)
    }

    package static func decodeRanges(_ body: [UInt8], count: Int, first: UInt64, statuses allowed: Set<FrameKind> = statuses) throws(DecodeError)
        -> (route: String, status: FrameKind, ranges: [ClosedRange<UInt64>]) {
        guard let statusByte = body.first else { throw DecodeError("a route frame's body is empty", at: 0) }
        guard let status = FrameKind(rawValue: UInt16(statusByte)), allowed.contains(status) else {
            throw DecodeError("route status \(statusByte) is not \(allowed.map(\.rawValue).sorted().map(String.init).joined(separator: ", "))", at: 0)
        }
        let (route, end) = try decodeName(body, at: 1)
        let ranges = try TombstoneCodec.decode(Array(body[end...]), count: count, first: first)
        return (route, status, ranges)
    }

    package static func encodeStart(route: String) -> [UInt8] { name(route) }

    package static func decodeStart(_ body: [UInt8]) throws(DecodeError) -> String {
        let (route, end) = try decodeName(body, at: 0)
        guard end == body.count else { throw DecodeError("\(body.count - end) bytes left after the route's name", at: end) }
        return route
    }

    /// The frames that record `set` as finished by `route` with `status`, each body at most `maxBody`
    /// bytes, from byte `offset` of the file of `identity`, part of a write whose tag is `tag`.
    static func frames(_ set: SequenceRangeSet, route: String, status: FrameKind, maxBody: Int, identity: FileIdentity,
                       offset: Int64, tag: UInt16) -> [UInt8] {
        var bytes: [UInt8] = []
        for chunk in TombstoneCodec.chunks(set.ranges, maxBody: maxBody - 2 - route.utf8.count) {
            bytes += FrameHeader.frame(kind: .routeRanges, first: chunk.first!.lowerBound, count: UInt32(chunk.count),
                                       body: encodeRanges(route: route, status: status, chunk),
                                       identity: identity, offset: offset + Int64(bytes.count), tag: tag)
        }
        return bytes
    }

    /// The route-start frame of `route`, serving numbers from `start` on.
    static func startFrame(route: String, start: UInt64, identity: FileIdentity, offset: Int64, tag: UInt16) -> [UInt8] {
        FrameHeader.frame(kind: .routeStart, first: start, count: 1, body: encodeStart(route: route), identity: identity, offset: offset, tag: tag)
    }

    private static func name(_ route: String) -> [UInt8] {
        let bytes = Array(route.utf8)
        return [UInt8(bytes.count)] + bytes
    }

    private static func decodeName(_ body: [UInt8], at start: Int) throws(DecodeError) -> (String, Int) {
        guard start < body.count else { throw DecodeError("a route frame ends before the route's name", at: start) }
        let length = Int(body[start])
        guard length >= 1, length <= maxNameLength else { throw DecodeError("route name length \(length) is not 1 to \(maxNameLength)", at: start) }
        guard start + 1 + length <= body.count else { throw DecodeError("the route's name runs past the frame's body", at: start) }
        let bytes = Array(body[(start + 1)..<(start + 1 + length)])
        guard bytes.allSatisfy(isNameByte) else { throw DecodeError("the route's name holds a byte that is not allowed", at: start + 1) }
        return (String(decoding: bytes, as: UTF8.self), start + 1 + length)
    }
}
