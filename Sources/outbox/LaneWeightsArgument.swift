import Outbox

/// `--lanes` and a route's `"lanes"`: `NAME=WEIGHT,...` in the order the lanes go within a round, for
/// example `critical=8,normal=4,bulk=1` (``OutboxRelayConfiguration/lanes``).
enum LaneWeightsArgument {
    /// The lanes `text` names, or why it names none that can work.
    static func parse(_ text: String) -> Result<[LaneWeight], LaneWeightsError> {
        var lanes: [LaneWeight] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let weight = Int(pair[1]) else {
                return .failure(LaneWeightsError(reason: "\(String(part).debugDescription) is not NAME=WEIGHT"))
            }
            lanes.append(LaneWeight(OutboxLane(pair[0]), weight: weight))
        }
        if let problem = LaneWeight.problem(lanes) { return .failure(LaneWeightsError(reason: problem)) }
        return .success(lanes)
    }
}

struct LaneWeightsError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
