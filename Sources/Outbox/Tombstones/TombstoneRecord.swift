/// What one acknowledgement asks the tombstone writer to record (FORMAT.md §5, §5c).
enum TombstoneRecord: Sendable {
    /// Numbers finished for the whole outbox: published, dead, expired or unrouted.
    case ranges(SequenceRangeSet, FrameKind)
    /// Numbers one route finished (published, dead or expired).
    case route(String, SequenceRangeSet, status: FrameKind)
    /// A route: the first number it serves.
    case routeStart(String, UInt64)

    var weight: Int {
        switch self {
        case .ranges(let set, _), .route(_, let set, _): set.ranges.count * 8 + FrameHeader.size
        case .routeStart: FrameHeader.size + 2 + RouteTombstoneCodec.maxNameLength
        }
    }

    /// Records of one group commit, merged: one set per kind and per route and status.
    struct Merged {
        private var global: [FrameKind: SequenceRangeSet] = [:]
        private var routes: [String: [FrameKind: SequenceRangeSet]] = [:]
        private var starts: [String: UInt64] = [:]
        /// In the order the records came (the same bytes for the same records).
        private var routeOrder: [String] = []

        init(_ records: [TombstoneRecord]) {
            for record in records {
                switch record {
                case .ranges(let set, let kind):
                    global[kind, default: SequenceRangeSet()].formUnion(set)
                case .route(let name, let set, let status):
                    if routes[name] == nil, starts[name] == nil { routeOrder.append(name) }
                    routes[name, default: [:]][status, default: SequenceRangeSet()].formUnion(set)
                case .routeStart(let name, let start):
                    if routes[name] == nil, starts[name] == nil { routeOrder.append(name) }
                    starts[name] = start
                }
            }
        }

        /// The oldest format version whose tombstone files may hold these frames.
        var minimumVersion: UInt16 {
            if !routes.isEmpty || !starts.isEmpty || !(global[.unrouted]?.isEmpty ?? true) { return 5 }
            return global[.expired]?.isEmpty ?? true ? 1 : 2
        }

        /// The frames, laid out from `offset` of the file of `identity`: the outbox's sets (published,
        /// dead, expired, unrouted), then per route its start and its sets (published, dead, expired).
        func frames(maxBody: Int, identity: FileIdentity, offset: Int64, tag: UInt16) -> [UInt8] {
            var bytes: [UInt8] = []
            for kind in [FrameKind.published, .dead, .expired, .unrouted] {
                guard let set = global[kind], !set.isEmpty else { continue }
                bytes += TombstoneCodec.frames(set, kind: kind, maxBody: maxBody, identity: identity,
                                               offset: offset + Int64(bytes.count), tag: tag)
            }
            for name in routeOrder {
                if let start = starts[name] {
                    bytes += RouteTombstoneCodec.startFrame(route: name, start: start, identity: identity, offset: offset + Int64(bytes.count), tag: tag)
                }
                for status in [FrameKind.published, .dead, .expired] {
                    guard let set = routes[name]?[status], !set.isEmpty else { continue }
                    bytes += RouteTombstoneCodec.frames(set, route: name, status: status, maxBody: maxBody, identity: identity,
                                                        offset: offset + Int64(bytes.count), tag: tag)
                }
            }
            return bytes
        }

        /// Adds what the frames record to `snapshot` (once they are durable).
        func apply(to snapshot: inout TombstoneSnapshot) {
            for (kind, set) in global {
                for r in set.ranges { snapshot.insert(r, kind: kind) }
            }
            for (name, start) in starts { snapshot.routes[name, default: RouteProgress()].start = start }
            for (name, sets) in routes {
                for (status, set) in sets {
                    for r in set.ranges { snapshot.routes[name, default: RouteProgress()].insert(r, status: status) }
                }
            }
        }
    }
}
