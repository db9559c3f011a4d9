import ArgumentParser
import Foundation
import Outbox
import OutboxBench

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure appends against the disk's fdatasync floor and an SQLite outbox, in the same directory; then a relay publishing to a sink.",
        discussion: """
            Run it on the disk the outbox will live on (--dir): on a tmpfs fdatasync is free and the comparison \
            means little. Results are ratios to the baselines measured in the same run. The relay publishes to a \
            file sink in the scratch directory unless --sink names a broker (as for 'outbox relay'): it drains a \
            full outbox, then keeps up with producers appending; the live row's latencies run from append \
            returning to the sink's acknowledgement.
            """)

    @Option(help: "A directory on the disk under test (a scratch directory is made inside and removed).") var dir: String = "."
    @Option(help: "Messages appended by each store.") var messages: Int = 10_000
    @Option(help: "Concurrent producers.") var producers: Int = 16
    @Option(help: "Payload bytes per message.") var payloadSize: Int = 256
    @Option(help: "pwrite + fdatasync rounds for the floor.") var floorCommits: Int = 500
    @Option(help: "Where the relay publishes: a file sink in the scratch directory (default), file:PATH, nats://…, mqtt://… or kafka://… (see 'outbox relay --help').")
    var sink: String?
    @Option(help: "Messages per second the producers append at in the relay's live phase (default: as fast as they can).")
    var liveRate: Double?
    @Option(help: "Seconds each relay phase may take to get every message acknowledged before the benchmark fails.")
    var publishTimeout: Double = 120
    @Flag(help: "One JSON object instead of a table.") var json = false

    func validate() throws {
        guard messages >= 1, producers >= 1, floorCommits >= 1 else {
            throw ValidationError("--messages, --producers and --floor-commits must be at least 1")
        }
        guard payloadSize >= 0 else { throw ValidationError("--payload-size must not be negative") }
        try RelayCommand.validateSeconds(publishTimeout, "--publish-timeout", allowZero: false)
        if let liveRate, !(liveRate > 0 && liveRate.isFinite) { throw ValidationError("--live-rate must be a positive number of messages per second") }
        if let sink {
            guard sink != "stdout" else { throw ValidationError("--sink stdout would bury the report; use file:PATH or a broker") }
            try RelayCommand.validateSink(sink)
        }
    }

    func run() async throws {
        try await reportingErrors {
            var bench = Benchmark(directory: dir)
            bench.messages = messages
            bench.producers = producers
            bench.payloadSize = payloadSize
            bench.floorCommits = floorCommits
            bench.liveRate = liveRate
            bench.publishTimeout = .milliseconds(Int64(publishTimeout * 1000))
            let logger = CLILogging.logger("outbox.bench")
            if let sink {
                bench.makeSink = { _ in try RelayCommand.makeSink(sink, logger: logger) }
                bench.sinkName = sink
            }
            let r = try await bench.run(logger: logger)
            if json {
                var j = JSONLine()
                for (name, s) in [("floor", r.floor), ("outbox", r.outbox), ("sqlite", r.sqlite), ("relay", r.relay), ("live", r.live)] {
                    var o = JSONLine()
                    o.number("operations", s.operations)
                    o.double("seconds", s.elapsed.seconds)
                    o.double("perSecond", s.perSecond)
                    o.double("p50Ms", s.p50.milliseconds)
                    o.double("p99Ms", s.p99.milliseconds)
                    o.number("latencySamples", s.latencies.count)
                    j.raw(name, o.text)
                }
                j.number("outboxStored", r.outboxStored)
                j.number("sqliteRows", r.sqliteRows)
                j.double("throughputVsSQLite", r.throughputVsSQLite)
                j.double("messagesPerFloorSync", r.messagesPerFloorSync)
                j.double("p50VsFloor", r.p50VsFloor)
                print(j.text)
            } else {
                print("directory: \(URL(fileURLWithPath: dir).standardizedFileURL.path)  (\(messages) messages of \(payloadSize) bytes, \(producers) producers)")
                print("sink:      \(sink ?? "a file sink in the scratch directory (one write + fdatasync per batch)")")
                print(pad("", 40) + pad("operations", 12) + pad("per second", 14) + pad("p50 ms", 10) + pad("p99 ms", 10))
                for s in [r.floor, r.outbox, r.sqlite, r.relay, r.live] {
                    let latency = s.latencies.isEmpty ? pad("-", 10) + pad("-", 10)
                        : pad(format(s.p50.milliseconds, 3), 10) + pad(format(s.p99.milliseconds, 3), 10)
                    print(pad(s.name, 40) + pad("\(s.operations)", 12) + pad(format(s.perSecond), 14) + latency)
                }
                print("outbox vs SQLite: \(format(r.throughputVsSQLite, 2))x the messages per second")
                print("outbox vs the floor: \(format(r.messagesPerFloorSync, 2)) messages per fdatasync the disk can do; median commit \(format(r.p50VsFloor, 2))x the floor's")
                print("live relay (\(liveRate.map { "producers paced at \(format($0)) messages/s" } ?? "producers at full speed, so queueing included")): append returned to sink acknowledged, p50 \(format(r.live.p50.milliseconds, 3)) ms, p99 \(format(r.live.p99.milliseconds, 3)) ms")
            }
        }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    private func format(_ v: Double, _ decimals: Int = 0) -> String { String(format: "%.\(decimals)f", v) }
}
