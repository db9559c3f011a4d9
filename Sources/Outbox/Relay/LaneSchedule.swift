/// Whose turn it is among a route's lanes (``OutboxRelayConfiguration/lanes``): deficit round robin over
/// bytes on the wire.
///
/// While two or more lanes have messages ready, each round gives every such lane its weight times
/// ``quantum`` bytes to send, and a lane's turn lasts while its next message fits in what is left of its
/// share (what is left carries over to its next round); the lanes go in the order they are listed, so a
/// lane listed first waits for at most one batch of another. A lane with nothing ready starts its next
/// turn with a full share (so a `critical` message that arrives while the backlog drains goes with the
/// next batch). While one lane alone has messages ready, it takes everything. No lane that has messages
/// ready waits more than one round (a message larger than a share waits until its lane saved enough).
///
/// **Live classes.** With a ``LiveShare``, each lane has two classes of messages: its backlog (class `i`)
/// and its live messages (class `count + i`). The round robin is between lanes; within a lane's turn the
/// class that spent less of its part (live ``LiveShare/share``, backlog the rest) goes, and either takes
/// the whole turn while the other has nothing ready.
struct LaneSchedule {
    /// The lanes, in their order within a round (`normal` among them).
    let lanes: [LaneWeight]
    /// The index of lane `normal`: where messages of lanes not listed go.
    let normal: Int
    private let index: [String: Int]
    /// What each lane may still send in this round, in bytes on the wire.
    private(set) var deficit: [Int]
    /// The lanes whose turn in this round is over.
    private var done: [Bool]
    /// Whether the last turn was given while another lane had messages ready too (a batch then keeps to
    /// the lane's share).
    private(set) var contended = false
    /// Bytes per unit of weight in a round.
    static let quantum = 16 << 10
    /// Live's part of a lane, when the route has live classes.
    let liveShare: Double?
    /// What each lane's backlog and live classes sent since both last had messages ready, in bytes.
    private var classSpent: [(backlog: Int, live: Int)]

    init(_ configured: [LaneWeight], live: LiveShare? = nil) {
        liveShare = live?.share
        lanes = LaneWeight.withNormal(configured)
        classSpent = Array(repeating: (0, 0), count: lanes.count)
        normal = lanes.firstIndex { $0.lane == .normal }!
        index = Dictionary(uniqueKeysWithValues: lanes.enumerated().map { ($1.lane.name, $0) })
        deficit = lanes.map { $0.weight * Self.quantum }
        done = Array(repeating: false, count: lanes.count)
    }

    var count: Int { lanes.count }
    /// The classes of messages: each lane's backlog, then with live classes each lane's live messages.
    var classes: Int { liveShare == nil ? lanes.count : 2 * lanes.count }
    /// The lane of class `c`.
    func lane(ofClass c: Int) -> Int { c % lanes.count }

    /// Which of `lane`'s classes goes now: the one that spent less of its part since both were last ready
    /// (the backlog on a tie); the one ready when only one is.
    mutating func pick(lane: Int, backlogReady: Bool, liveReady: Bool) -> Int {
        guard let share = liveShare else { return lane }
        guard liveReady, backlogReady else {
            classSpent[lane] = (0, 0)
            return liveReady ? count + lane : lane
        }
        let spent = classSpent[lane]
        return Double(spent.live) * (1 - share) < Double(spent.backlog) * share ? count + lane : lane
    }

    /// Class `c` sent `bytes`.
    mutating func charge(_ bytes: Int, toClass c: Int) {
        guard liveShare != nil else { return }
        if c < count { classSpent[c].backlog += bytes } else { classSpent[c - count].live += bytes }
    }

    /// What each lane's reader of the log follows: its own lane, and for `normal` every lane not listed
    /// (every lane when `normal` is the only one).
    var selections: [LaneSelection] {
        let named = Set(lanes.map(\.lane.name)).subtracting([OutboxLane.normal.name])
        return lanes.map { $0.lane == .normal ? (named.isEmpty ? .all : .allBut(named)) : .only([$0.lane.name]) }
    }

    /// The index of `lane` if it is listed.
    func index(of lane: OutboxLane) -> Int? { index[lane.name] }

    /// The lane a message travels in: its own if listed, else `normal`.
    func lane(of m: OutboxMessage) -> Int { m.lane == .normal ? normal : index[m.lane.name] ?? normal }

    private func share(_ lane: Int) -> Int { lanes[lane].weight * Self.quantum }

    /// The lane whose turn it is among those with messages ready (`ready[i]`), or nil when none has any.
    mutating func next(ready: [Bool]) -> Int? {
        var (active, last) = (0, 0)
        for i in ready.indices {
            if ready[i] {
                active += 1
                last = i
            } else {
                deficit[i] = share(i)
                done[i] = false
            }
        }
        contended = active > 1
        guard active > 0 else { return nil }
        if active == 1 { return last }
        if let i = ready.indices.first(where: { ready[$0] && !done[$0] }) { return i }
        // Every lane with messages ready had its turn: a new round.
        for i in ready.indices where ready[i] {
            deficit[i] += share(i)
            done[i] = false
        }
        return ready.indices.first { ready[$0] }
    }

    /// The lane whose turn it was sent `bytes` on the wire; with `endsTurn`, its next message did not fit
    /// in what is left of its share.
    mutating func spend(_ bytes: Int, by lane: Int, endsTurn: Bool) {
        deficit[lane] -= bytes
        if endsTurn { done[lane] = true }
    }
}
