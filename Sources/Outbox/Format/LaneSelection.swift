/// The lanes one reader of the log follows (the relay reads each lane by its own position): every lane,
/// some lanes, or every lane but some (the reader of `normal`, which also carries lanes the relay was not
/// told of).
package enum LaneSelection: Sendable, Hashable {
    case all
    case only(Set<String>)
    case allBut(Set<String>)

    /// Whether a message of lane `name` is this reader's.
    package func contains(_ name: String) -> Bool {
        switch self {
        case .all: true
        case .only(let names): names.contains(name)
        case .allBut(let names): !names.contains(name)
        }
    }

    /// Whether a frame whose lanes are `lanes` (names, in a kind-14 frame's summary) may hold a message of
    /// this reader's.
    func takesAny(of lanes: [String]) -> Bool { lanes.contains { contains($0) } }

    /// Whether a sealed segment whose lane filter is `filter` (FORMAT.md §3a; nil for a seal without one:
    /// every message in `normal`) may hold a message of this reader's. Only a selection of named lanes can
    /// tell from the filter (two lanes may share a bit); the others always read the segment.
    func mayBeIn(filter: UInt64?) -> Bool {
        guard case .only(let names) = self else { return true }
        let bits = filter ?? LaneSummary.normalBit
        return names.contains { bits & LaneSummary.filterBit($0) != 0 }
    }
}
