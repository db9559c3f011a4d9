import ArgumentParser
import Foundation
import Outbox
import OutboxBench
import OutboxNATS

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the outbox against the disk's fdatasync floors, a lean SQLite outbox and reading the same bytes, in one directory and one run.",
        discussion: """
            Scenarios: commit.single, commit.concurrent4/16/64, commit.batch100, relay.drain.keyed/keyless, relay.live, \
            open.1M, open.5M and writeAmplification.1/16. Each runs several rounds interleaved with its baselines; the \
            report gives medians and ranges, and ratios taken within each round (they hold where absolute numbers drift). \
            Run it on the disk the outbox will live on (--dir): on a tmpfs fdatasync is free and the comparison means \
            little. The open scenarios drop the page cache when run as root. With --sink the relay rows publish to that \
            broker (as for 'outbox relay') and are named relay.sink.*. See BENCHMARKS.md.
            """)

    @Option(help: "A directory on the disk under test (a scratch directory is made inside and removed).") var dir: String = "."
    @Flag(help: "3 rounds of smaller workloads, without open.5M: under 3 minutes.") var quick = false
    @Option(parsing: .unconditional, help: "Rounds per scenario (default 5, or 3 with --quick).") var rounds: Int?
    @Option(parsing: .unconditional, help: "Multiplies every workload's size (for a smoke run: 0.01).") var scale: Double = 1
    @Option(help: "Only the scenarios whose names start with one of these (comma-separated), e.g. commit,relay.drain.")
    var only: String?
    @Option(parsing: .unconditional, help: "Payload bytes per message.") var payloadSize: Int = 256
    @Option(help: "Where the relay scenarios publish: a file sink in the scratch directory (default), file:PATH, nats://…, mqtt://… or kafka://… (see 'outbox relay --help').")
    var sink: String?
    @Option(parsing: .unconditional, help: "Seconds each relay run may take to get every message acknowledged before the benchmark fails.")
    var publishTimeout: Double = 120
    @Flag(help: "One JSON object instead of a table.") var json = false
    @Option(help: "Also write the JSON report to this file (with the table or Markdown on standard output).") var jsonFile: String?
    @Flag(help: "A Markdown table (as in README and BENCHMARKS.md) instead of the text report.") var markdown = false

    func validate() throws {
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        guard scale > 0, scale.isFinite, scale <= 100 else { throw ValidationError("--scale must be a number above 0 and at most 100") }
        guard (0...(1 << 20)).contains(payloadSize) else { throw ValidationError("--payload-size must be 0 to 1048576 bytes") }
        try RelayCommand.validateSeconds(publishTimeout, "--publish-timeout", allowZero: false)
        if let sink {
            guard sink != "stdout" else { throw ValidationError("--sink stdout would bury the report; use file:PATH or a broker") }
            try RelayCommand.validateSink(sink)
        }
        if json && markdown { throw ValidationError("--json and --markdown are two reports; choose one") }
        if let jsonFile {
            let parent = URL(fileURLWithPath: jsonFile).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--json-file \(jsonFile): the directory \(parent) does not exist")
            }
        }
    }

    func run() async throws {
        try await reportingErrors {
            var bench = Benchmark(directory: dir)
            bench.quick = quick
            bench.rounds = rounds
            bench.scale = scale
            bench.only = only.map { $0.split(separator: ",").map { String($0.trimmingCharacters(in: .whitespaces)) } } ?? []
            bench.payloadSize = payloadSize
            bench.publishTimeout = .milliseconds(Int64(publishTimeout * 1000))
            let logger = CLILogging.logger("outbox.bench")
            if let sink {
                bench.makeSink = { _ in try RelayCommand.makeSink(sink, logger: logger) }
                bench.sinkName = sink
                bench.brokerSink = true
                if case .nats(let nats) = try RelayCommand.SinkChoice(sink) {
                    let timeout = bench.publishTimeout
                    bench.brokerBaseline = ("nats.async", "nats.keyOrder", { messages, inKeyOrder in
                        try await onDedicatedThread("outbox-bench-nats") {
                            try JetStreamBaseline.publishAsync(nats, messages: messages, timeout: timeout, inKeyOrder: inKeyOrder)
                        }
                    })
                }
            }
            bench.progress = { line in StandardError.line("outbox bench: \(line)") }
            let started = ContinuousClock.now
            let results = try await bench.run(logger: logger)
            let seconds = (ContinuousClock.now - started).seconds
            let report = jsonReport(results, bench: bench, seconds: seconds)
            if let jsonFile {
                do { try Data((report + "\n").utf8).write(to: URL(fileURLWithPath: jsonFile)) } catch {
                    throw OutboxError(.io, "cannot write the JSON report: \(error.localizedDescription)", path: jsonFile)
                }
            }
            if json {
                print(report)
            } else if markdown {
                print(BenchReport.markdown(results))
            } else {
                print("directory: \(URL(fileURLWithPath: dir).standardizedFileURL.path)  (\(payloadSize)-byte payloads, \(bench.roundCount) rounds, \(quick ? "quick" : "full"), \(Int(seconds)) s)")
                print(BenchReport.text(results))
            }
        }
    }

    private func jsonReport(_ results: [ScenarioResult], bench: Benchmark, seconds: Double) -> String {
        var j = JSONLine()
        j.string("version", "outbox \(OutboxCommand.version)")
        j.string("mode", quick ? "quick" : "full")
        j.number("rounds", bench.roundCount)
        j.double("scale", scale)
        j.number("payloadSize", payloadSize)
        j.string("sink", sink)
        j.double("seconds", seconds)
        j.raw("scenarios", "{" + results.map { JSONLine.quote($0.name) + ":" + BenchReport.json($0) }.joined(separator: ",") + "}")
        return j.text
    }
}
