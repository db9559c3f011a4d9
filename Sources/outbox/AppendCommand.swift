import ArgumentParser
import Foundation
import Outbox
import Synchronization

struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append messages to an outbox (created if missing); each is durable when acknowledged.")

    @Argument(help: "The outbox directory.") var dir: String
    @Option(help: "The message type.") var type: String = "Event"
    @Option(help: "The ordering key of every message.") var key: String?
    @Option(parsing: .unconditional, help: "Spread messages over keys key-0 ... key-(N-1).") var keys: Int?
    @Option(help: "The lane of every message: critical, normal (the default), bulk or a named lane.") var lane: String = OutboxLane.normal.name
    @OptionGroup var encryption: KeyOptions
    @Option(name: .customLong("lane-rule"), help: "A rule giving messages in lane normal another lane: LANE:type=GLOB, LANE:key=GLOB, LANE:header=NAME or LANE:header=NAME=VALUE (repeatable; the first that matches wins).")
    var laneRules: [String] = []
    @Option(name: .customLong("header"), help: "A header NAME=VALUE (repeatable, order kept).") var headers: [String] = []
    @Option(help: "The payload text.") var payload: String?
    @Option(help: "Read the payload from this file ('-': standard input).") var payloadFile: String?
    @Option(parsing: .unconditional, help: "Generate payloads of this many bytes.") var payloadSize: Int?
    @Option(parsing: .unconditional, help: "How many messages to append.") var count: Int = 1
    @Option(parsing: .unconditional, help: "How many concurrent appenders.") var concurrency: Int = 1
    @Option(parsing: .unconditional, help: "Messages per atomic commit.") var batch: Int = 1
    @Flag(help: "Print each acknowledged sequence number on its own line as soon as it is durable.") var printAck = false
    @Option(parsing: .unconditional, help: "Segment size in bytes when creating segments.") var segmentSize: Int?
    @Option(help: ArgumentHelp("Set the outbox's disk budget (kept in the outbox): bytes, or with K, M, G (8M is 8 MiB); 0 removes it.",
                               discussion: "Appends that would pass it fail with outbox-full (exit 75) before anything is written."))
    var maxDisk: ByteSize?
    @Option(help: "When the budget is full: reject (the default: fail with outbox-full) or drop-oldest (drop the oldest messages, a segment at a time, to make room); kept with the budget.")
    var onFull: FullPolicy?
    @Option(help: "Damage the open would refuse: refuse (the default) or quarantine (move the file to DIR/quarantine/, keep every intact message, open).")
    var onDamage: DamagePolicy = .refuse

    func validate() throws {
        guard count >= 0 else { throw ValidationError("--count must be 0 or more") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        if let keys, keys < 1 { throw ValidationError("--keys must be at least 1") }
        if key != nil && keys != nil { throw ValidationError("use --key or --keys, not both") }
        if [payload != nil, payloadFile != nil, payloadSize != nil].filter({ $0 }).count > 1 {
            throw ValidationError("use only one of --payload, --payload-file, --payload-size")
        }
        if let payloadSize, payloadSize < 0 { throw ValidationError("--payload-size must be 0 or more") }
        for h in headers where !h.contains("=") { throw ValidationError("--header '\(DumpCommand.escaped(h))' is not NAME=VALUE") }
        // The library's own rules (OutboxMessage.problem), named by flag.
        guard !type.isEmpty else { throw ValidationError("--type must not be empty") }
        if let problem = OutboxMessage.textProblem(type) { throw ValidationError("--type \(problem)") }
        if let key, let problem = OutboxMessage.textProblem(key) { throw ValidationError("--key \(problem)") }
        for h in headers {
            let (name, value) = Self.split(h)
            if let problem = OutboxMessage.headerNameProblem(name) {
                throw ValidationError("--header '\(DumpCommand.escaped(h))': the name \(problem)")
            }
            if let problem = OutboxMessage.textProblem(value) {
                throw ValidationError("--header '\(DumpCommand.escaped(h))': the value \(problem)")
            }
        }
        if let problem = OutboxLane.nameProblem(lane) { throw ValidationError("--lane \(lane.debugDescription) \(problem)") }
        for rule in laneRules { if case .failure(let e) = LaneRule.parse(rule) { throw ValidationError("--lane-rule \(e)") } }
        let sample = OutboxMessage(type: type, key: key, headers: headers.map { Self.split($0) }.map { .init($0.0, $0.1) }, payload: [])
        if let problem = sample.problem { throw ValidationError("--header: \(problem)") }
    }

    /// NAME and VALUE of a `NAME=VALUE` header.
    static func split(_ h: String) -> (String, String) {
        guard let i = h.firstIndex(of: "=") else { return (h, "") }
        return (String(h[..<i]), String(h[h.index(after: i)...]))
    }

    func run() async throws {
        try await reportingErrors {
            let logger = CLILogging.logger()
            let parsedHeaders = headers.map { h -> OutboxMessage.Header in
                let (name, value) = Self.split(h)
                return .init(name, value)
            }
            var configuration = OutboxConfiguration()
            if let segmentSize { configuration.segmentSize = segmentSize }
            configuration.onDamage = onDamage
            if let maxDisk { configuration.maxDiskBytes = maxDisk.bytes }
            configuration.onFull = onFull
            configuration.laneRules = laneRules.compactMap { try? LaneRule.parse($0).get() }
            configuration.keys = try encryption.load()
            let outbox = try await Outbox.open(at: dir, configuration: configuration, logger: logger)
            // Sizes are checked against the outbox's max record size before anything is allocated.
            let limit = outbox.maxRecordSize
            var fixedPayload: [UInt8]?
            do {
                if let payload { fixedPayload = Array(payload.utf8) }
                if let payloadFile {
                    fixedPayload = try await onDedicatedThread("outbox-append-read") { try PayloadFile.read(payloadFile, limit: limit) }
                }
                if let payloadSize {
                    guard payloadSize <= limit else {
                        throw OutboxError(.recordTooLarge, "--payload-size \(payloadSize) is more than the outbox's max record size of \(limit) bytes")
                    }
                    fixedPayload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0 % 251) }
                }
                // A commit's messages are built in memory: one that cannot fit is refused before they are (its
                // fields other than the payload, which may deflate, need this much at least).
                let perMessage = 38 + type.utf8.count + (key ?? keys.map { "key-\($0)" } ?? "").utf8.count
                    + parsedHeaders.reduce(0) { $0 + 6 + $1.name.utf8.count + $1.value.utf8.count }
                let commit = min(batch, count)
                if commit > 1, commit.multipliedReportingOverflow(by: perMessage).partialValue > limit || commit > limit {
                    throw OutboxError(.recordTooLarge, "--batch \(batch): a commit of \(commit) messages needs at least \(commit) × \(perMessage) bytes, more than the outbox's max record size of \(limit) bytes")
                }
            } catch {
                try? await outbox.close()
                throw error
            }
            let next = WorkCounter()
            let payloadBytes = fixedPayload
            let total = count, batch = self.batch, print = printAck
            let type = self.type, key = self.key, keys = self.keys
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<concurrency {
                    group.addTask {
                        while true {
                            let (start, n) = next.value.withLock { v -> (Int, Int) in
                                let n = min(batch, total - v)
                                defer { v += n }
                                return (v, n)
                            }
                            if n <= 0 { return }
                            let messages = (start..<(start + n)).map { i in
                                OutboxMessage(
                                    type: type, key: keys.map { "key-\(i % $0)" } ?? key, headers: parsedHeaders,
                                    payload: payloadBytes ?? Array("{\"n\":\(i)}".utf8), lane: OutboxLane(lane))
                            }
                            let range = try await outbox.append(contentsOf: messages)
                            if print { Output.shared.write(range.map { "\($0)\n" }.joined()) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await outbox.close()
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - started).components.seconds)
            StandardError.line("appended \(total) message(s) in \(String(format: "%.2f", seconds)) s")
        }
    }
}
