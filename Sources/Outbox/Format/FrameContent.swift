/// The frame kinds each file kind may hold, and the check of their bodies (FORMAT.md §4, §5, §5a).
enum FrameContent {
    /// The kinds a file of `file` kind and format `version` may hold: expired ranges (kind 8) only from
    /// version 2 on, seals (kind 10) only from version 3 on, routes (kinds 11 to 13) only from version 5 on;
    /// a dead-letter file of any version may hold route marks (kind 11, FORMAT.md §5a).
    static func kinds(in file: FileHeader.Kind, version: UInt16 = FileHeader.currentVersion) -> Set<FrameKind> {
        switch file {
        case .segment:
            version >= FileHeader.lanesVersion ? [.messages, .laneMessages, .hole, .seal]
                : version >= 3 ? [.messages, .hole, .seal] : [.messages, .hole]
        case .tombstones:
            version >= 5 ? [.published, .dead, .expired, .routeRanges, .unrouted, .routeStart]
                : version >= 2 ? [.published, .dead, .expired] : [.published, .dead]
        case .deadLetters: [.deadLetter, .redriven, .redriveRequested, .routeRanges]
        case .dropped: [.dropped]
        }
    }

    /// Whether segments of format `version` end with a seal when sealed (FORMAT.md §3a).
    static func segmentsHaveSeals(_ version: UInt16) -> Bool { kinds(in: .segment, version: version).contains(.seal) }

    /// Why a sealed segment (one that a later segment follows) of format `version` that does not end with
    /// a seal is damage, if it is: from version 4 on every sealed segment ends with its seal (FORMAT.md
    /// §3a), so one without lost bytes at its end (at least its seal, perhaps frames too). The one rule of
    /// open, the readers and `verify`.
    static func missingSeal(_ version: UInt16) -> String? {
        version >= FrameHeader.taggedVersion
            ? "a sealed segment (a later one exists) ends without its seal: bytes at its end were lost (zeroed or cut)" : nil
    }

    /// Why a frame body of a `file` kind file whose checksum matched does not decode, or nil when it does.
    /// A file's `version` says whether dead letters may name their lane (version 6 on).
    /// In an `encrypted` file (header flag bit 0) the records are in an envelope (FORMAT.md §10): only its
    /// structure is checked here (a lane summary, an envelope's length and cipher); its content is
    /// authenticated when it is decrypted. From version 8 on a message frame's records follow the
    /// commit's clock (§4c).
    static func problem(_ h: FrameHeader, _ body: [UInt8], in file: FileHeader.Kind, version: UInt16, encrypted: Bool, maxBody: UInt32) -> String? {
        if encrypted, [.messages, .laneMessages, .deadLetter].contains(h.kind) {
            return envelopeProblem(h, body)
        }
        let stamped = version >= FileHeader.clockVersion
        do {
            switch h.kind {
            case .messages:
                _ = try MessageCodec.decode(body, count: Int(h.count), maxBody: Int(maxBody), stamped: stamped)
            case .laneMessages:
                try LaneSummary.decodeFrame(body, count: Int(h.count), maxBody: Int(maxBody), stamped: stamped) { _, _, _ in }
            case .deadLetter:
                guard h.count == 1 else { return "a dead letter frame holds \(h.count) records" }
                _ = try MessageCodec.decode(body, count: 1, maxBody: Int(maxBody), lanes: version >= FileHeader.lanesVersion ? .names : .none)
            case .published, .dead, .expired, .dropped, .redriven, .redriveRequested, .unrouted:
                _ = try TombstoneCodec.decode(body, count: Int(h.count), first: h.first)
            case .routeRanges:
                _ = try RouteTombstoneCodec.decodeRanges(body, count: Int(h.count), first: h.first,
                                                         statuses: file == .deadLetters ? RouteTombstoneCodec.marks : RouteTombstoneCodec.statuses)
            case .routeStart:
                guard h.count == 1 else { return "a route start frame has count \(h.count), not 1" }
                _ = try RouteTombstoneCodec.decodeStart(body)
            case .hole:
                if String(validating: body, as: UTF8.self) == nil { return "a hole's reason is not UTF-8" }
            case .seal:
                if body.count != Seal.bodySize(version) { return "a seal's body is \(body.count) bytes, not \(Seal.bodySize(version))" }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Why the body of an encrypted frame of kind 1, 14 or 4 is not an envelope (after a kind 14's lane
    /// summary), if it is not.
    static func envelopeProblem(_ h: FrameHeader, _ body: [UInt8]) -> String? {
        var start = 0
        if h.kind == .laneMessages {
            guard let summary = try? LaneSummary.decode(body) else { return "a lane summary that does not decode" }
            start = summary.recordsStart
        }
        if h.kind == .deadLetter, h.count != 1 { return "a dead letter frame holds \(h.count) records" }
        guard let (cipher, _, _) = Envelope.peek(body[start...]) else {
            return "an envelope of \(body.count - start) bytes, shorter than \(Envelope.overhead)"
        }
        guard Envelope.Cipher(rawValue: cipher) != nil else { return "an envelope names cipher \(cipher), which is not one" }
        return nil
    }

    static func kindName(_ k: FrameKind) -> String {
        switch k {
        case .messages: "messages"
        case .laneMessages: "lane-messages"
        case .published: "published"
        case .dead: "dead"
        case .expired: "expired"
        case .dropped: "dropped"
        case .deadLetter: "dead-letter"
        case .redriven: "redriven"
        case .redriveRequested: "redrive-requested"
        case .hole: "hole"
        case .seal: "seal"
        case .routeRanges: "route"
        case .unrouted: "unrouted"
        case .routeStart: "route-start"
        }
    }
}
