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
        /// Bytes per second on a link (the operations are bytes).
        case bytesPerSecond

        package var unit: String {
            switch self {
            case .rate: "msgs/s"
            case .seconds: "s"
            case .amplification: "device B / payload B"
            case .bytesPerSecond: "B/s"
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
        /// The median over the rounds of the outbox's p99 latency is at most this many milliseconds.
        case p99AtMost(Double)
        /// The median over the rounds of a named figure (``BenchSample/figures``) is within `range`.
        case figure(String, ClosedRange<Double>, what: String)
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

    /// A named figure (``BenchSample/figures``) over the rounds, where reported.
    package func figure(_ name: String) -> Spread? { Spread(outbox.compactMap { $0.figures[name] }) }

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
            case .p99AtMost(let ms):
                Spread(outbox.compactMap { $0.p99?.milliseconds }).map { ("p99 ≤ \(ms) ms", $0.median, $0.median <= ms) }
            case .figure(let name, let range, let what):
                figure(name).map { (what, $0.median, range.contains($0.median)) }
            }
        }
    }
}
