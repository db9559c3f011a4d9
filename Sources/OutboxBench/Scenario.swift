/// One row of `outbox bench`: the outbox doing one job, and the baselines it is compared with, each
/// measured once per round, interleaved with the others.
package struct Scenario: Sendable {
    /// What a scenario compares.
    package enum Metric: String, Sendable {
        /// Operations per second (higher is better).
        case rate
        /// Seconds one run takes (lower is better).
        case seconds
        /// Device bytes written per payload byte (lower is better).
        case amplification

        package var unit: String {
            switch self {
            case .rate: "msgs/s"
            case .seconds: "s"
            case .amplification: "device B / payload B"
            }
        }
    }

    /// What a scenario must reach (the goals, checked on the medians of one run).
    package enum Goal: Sendable {
        /// The median of (outbox / baseline) over the rounds is at least this.
        case ratioAtLeast(Double, vs: String)
        /// The median of (outbox / baseline) over the rounds is at most this (for costs).
        case ratioAtMost(Double, vs: String)
        /// The outbox's median messages per counted `fdatasync` is at least this.
        case perSyncAtLeast(Double)
        /// The outbox's median figure is below this (seconds or bytes per byte).
        case below(Double)
    }

    package typealias Run = @Sendable (_ round: Int) async throws -> BenchSample

    /// The stable name (`--json`, `--only`).
    package var name: String
    /// What it does, in a few words.
    package var what: String
    package var metric: Metric
    package var outbox: Run
    package var baselines: [(name: String, run: Run)]
    package var goals: [Goal]
    /// Work done once before the rounds (building a large outbox for the open scenarios).
    package var prepare: (@Sendable () async throws -> Void)?

    package init(name: String, what: String, metric: Metric = .rate, outbox: @escaping Run, baselines: [(name: String, run: Run)] = [],
                 goals: [Goal] = [], prepare: (@Sendable () async throws -> Void)? = nil) {
        self.name = name
        self.what = what
        self.metric = metric
        self.outbox = outbox
        self.baselines = baselines
        self.goals = goals
        self.prepare = prepare
    }
}

/// What the rounds of one scenario measured.
package struct ScenarioResult: Sendable {
    package var name: String
    package var what: String
    package var metric: Scenario.Metric
    package var outbox: [BenchSample]
    package var baselines: [(name: String, runs: [BenchSample])]
    package var goals: [Scenario.Goal]

    /// The outbox's figure over the rounds.
    package var spread: Spread? { Spread(outbox.map { $0.value(metric) }) }

    /// A baseline's figure over the rounds.
    package func spread(of baseline: String) -> Spread? {
        baselines.first { $0.name == baseline }.flatMap { Spread($0.runs.map { $0.value(metric) }) }
    }

    /// The outbox's figure over the baseline's, taken within each round, over the rounds.
    package func ratio(vs baseline: String) -> Spread? {
        guard let runs = baselines.first(where: { $0.name == baseline })?.runs else { return nil }
        return Spread(zip(outbox, runs).map { $0.value(metric) / $1.value(metric) })
    }

    /// Messages per counted `fdatasync` over the rounds, where counted.
    package var perSync: Spread? { Spread(outbox.compactMap(\.perSync)) }

    /// Each goal, the median it is judged on, and whether it holds.
    package var verdicts: [(goal: String, value: Double, met: Bool)] {
        goals.compactMap { goal in
            switch goal {
            case .ratioAtLeast(let x, let vs):
                ratio(vs: vs).map { ("≥ \(x)x \(vs)", $0.median, $0.median >= x) }
            case .ratioAtMost(let x, let vs):
                ratio(vs: vs).map { ("≤ \(x)x \(vs)", $0.median, $0.median <= x) }
            case .perSyncAtLeast(let x):
                perSync.map { ("≥ \(x) messages per fdatasync", $0.median, $0.median >= x) }
            case .below(let x):
                spread.map { ("< \(x) \(metric.unit)", $0.median, $0.median < x) }
            }
        }
    }
}
