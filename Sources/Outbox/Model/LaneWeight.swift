/// A lane and its weight in a route's share of the uplink (``OutboxRelayConfiguration/lanes``).
///
/// While several lanes have messages to publish, each gets bytes on the wire in proportion to its weight
/// (deficit round robin over bytes), and within a round the lanes go in the order they are listed, so the
/// first one's message waits for at most one batch of another lane. No lane with a weight starves.
public struct LaneWeight: Sendable, Equatable, CustomStringConvertible {
    public var lane: OutboxLane
    /// 1 to 1,000.
    public var weight: Int

    public init(_ lane: OutboxLane, weight: Int) {
        self.lane = lane
        self.weight = weight
    }

    /// `critical` 8, `normal` 4, `bulk` 1: the relay's lanes unless told otherwise.
    public static let defaults: [LaneWeight] = [.init(.critical, weight: 8), .init(.normal, weight: 4), .init(.bulk, weight: 1)]

    public var description: String { "\(lane.name)=\(weight)" }

    /// Why `lanes` cannot be a relay's lanes, if they cannot: an invalid name, a name twice, a weight
    /// outside 1...1000, or no lane at all.
    public static func problem(_ lanes: [LaneWeight]) -> String? {
        if lanes.isEmpty { return "names no lane" }
        var seen = Set<String>()
        for l in lanes {
            if let p = OutboxLane.nameProblem(l.lane.name) { return "lane \(l.lane.name.debugDescription) \(p)" }
            if !seen.insert(l.lane.name).inserted { return "names lane \(l.lane.name) twice" }
            if !(1...1000).contains(l.weight) { return "gives lane \(l.lane.name) a weight of \(l.weight), not within 1...1000" }
        }
        return nil
    }

    /// `lanes` with `normal` (the lane of messages in lanes not listed) added last with weight 1 when
    /// they leave it out.
    static func withNormal(_ lanes: [LaneWeight]) -> [LaneWeight] {
        lanes.contains { $0.lane == .normal } ? lanes : lanes + [.init(.normal, weight: 1)]
    }
}
