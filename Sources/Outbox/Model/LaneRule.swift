/// A rule that gives a message its lane at append (``OutboxConfiguration/laneRules``): a message appended
/// in lane `normal` (the default) that matches ``match`` is stored in ``lane``. The lane is stored with the
/// message, so every relay and tool sees the same lane, whatever rules it was given.
public struct LaneRule: Sendable, Equatable, CustomStringConvertible {
    /// Which messages the rule takes: their type (glob), a header, their key (glob) (``RouteMatch``).
    public var match: RouteMatch
    /// The lane they are stored in.
    public var lane: OutboxLane

    public init(_ match: RouteMatch, lane: OutboxLane) {
        self.match = match
        self.lane = lane
    }

    public var description: String { "\(lane.name):\(match)" }

    /// Why a text is not a rule: one line, naming it.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The rule a command line writes as `LANE:FIELD=TEXT` (`critical:type=Alarm*`, `bulk:header=x-kind=log`,
    /// `camera:key=cam-*`), or why `text` is not one.
    public static func parse(_ text: String) -> Result<LaneRule, Problem> {
        func fail(_ why: String) -> Result<LaneRule, Problem> { .failure(Problem(description: "\(text.debugDescription) \(why)")) }
        guard let colon = text.firstIndex(of: ":") else { return fail("is not LANE:FIELD=TEXT (e.g. critical:type=Alarm*)") }
        let lane = String(text[..<colon])
        if let problem = OutboxLane.nameProblem(lane) { return fail("names a lane that \(problem)") }
        let condition = text[text.index(after: colon)...]
        guard let eq = condition.firstIndex(of: "="),
              let c = RouteMatch.condition(String(condition[..<eq]), String(condition[condition.index(after: eq)...])) else {
            return fail("has no condition type=GLOB, key=GLOB, header=NAME or header=NAME=VALUE after the lane")
        }
        return .success(LaneRule(RouteMatch([c]), lane: OutboxLane(lane)))
    }

    /// The lane `message` is stored in under `rules`: its own unless it is `normal` and a rule matches it
    /// (the first that does).
    static func lane(of message: OutboxMessage, under rules: [LaneRule]) -> OutboxLane {
        guard message.lane == .normal else { return message.lane }
        return rules.first { $0.match.matches(message) }?.lane ?? .normal
    }
}
