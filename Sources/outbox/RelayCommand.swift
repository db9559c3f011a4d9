import ArgumentParser
import Foundation
import Logging
import Outbox
import OutboxKafka
import OutboxMQTT
import OutboxNATS
import ServiceLifecycle

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Publish pending messages to a sink until SIGTERM or SIGINT (then finish the batch in flight).")

    @Argument(help: "The outbox directory.") var dir: String
    @Option(help: ArgumentHelp(
        "Where to publish: stdout, file:PATH (JSON Lines, fdatasynced per batch), nats://HOST:PORT or tls://HOST:PORT (JetStream), mqtt://HOST[:PORT] or mqtts://HOST[:PORT], kafka://HOST:PORT[,HOST:PORT].",
        discussion: """
            NATS options follow a '?': subject=S (default outbox.{type}), stream=N (default OUTBOX), create-stream=true|false, creds=FILE, ca=FILE, cert=FILE, key=FILE.
            MQTT options: topic=T (default outbox/{type}), qos=1|2 (default 1), client-id=ID, ca=FILE, cert=FILE, key=FILE.
            Kafka options: topic=T (default outbox.{type}), and any librdkafka property.
            {type} and {key} in a subject or topic are replaced by the message's type and key.
            The sink is checked at start: a misconfiguration (a stream that does not cover the subject, bad credentials, an unknown option) exits 1; an unreachable broker is an outage, waited out.
            """))
    var sink: String
    @Option(help: "Seconds between fallback sweeps (republish stragglers, compact).") var sweepInterval: Double = 30
    @Option(help: "The sweep republishes pending messages at least this many seconds old.") var minAge: Double = 30
    @Option(help: "Attempts before a message the sink failed is dead-lettered (an unreachable sink counts none).") var maxAttempts: Int = 10
    @Option(help: "Messages per sink call.") var batch: Int = 100
    @Option(help: "While the sink is unreachable, the longest wait in seconds between probes.") var maxOutageBackoff: Double = 30
    @Flag(help: "Publish in global sequence order, not only per key.") var strictOrder = false
    @Flag(help: "Wait as a standby while DIR is not an outbox yet (default: exit 1).") var waitForOutbox = false

    func validate() throws {
        try Self.validateSeconds(sweepInterval, "--sweep-interval", allowZero: false)
        try Self.validateSeconds(minAge, "--min-age", allowZero: true)
        try Self.validateSeconds(maxOutageBackoff, "--max-outage-backoff", allowZero: false)
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        try Self.validateSink(sink)
    }

    /// A number of seconds the relay can use: finite, not negative (positive unless `allowZero`), at most
    /// a year.
    static func validateSeconds(_ value: Double, _ name: String, allowZero: Bool) throws {
        guard value.isFinite, value >= 0, allowZero || value > 0, value <= 365 * 86400 else {
            throw ValidationError("\(name) must be a number of seconds from \(allowZero ? "0" : "more than 0") to 31536000, not \(value)")
        }
    }

    /// The sink a `--sink` spec names: one parser for every command that takes one.
    enum SinkChoice {
        case stdout
        case file(String)
        case nats(NATSSinkConfiguration)
        case mqtt(MQTTSinkConfiguration)
        case kafka(KafkaSinkConfiguration)

        init(_ spec: String) throws {
            if spec == "stdout" { self = .stdout; return }
            if spec.hasPrefix("file:") {
                guard spec.count > 5 else { throw ValidationError("--sink file: needs a path (file:PATH)") }
                self = .file(String(spec.dropFirst(5)))
                return
            }
            let scheme = spec.range(of: "://").map { String(spec[..<$0.lowerBound]) }
            do {
                switch scheme {
                case "nats", "tls": self = .nats(try NATSSinkConfiguration(parsing: spec))
                case "mqtt", "mqtts": self = .mqtt(try MQTTSinkConfiguration(parsing: spec))
                case "kafka": self = .kafka(try KafkaSinkConfiguration(parsing: spec))
                default:
                    throw ValidationError("--sink must be stdout, file:PATH, nats://HOST:PORT, tls://HOST:PORT, mqtt://HOST[:PORT], "
                                          + "mqtts://HOST[:PORT] or kafka://HOST:PORT, not '\(SinkSpec.redacted(spec))'")
                }
            } catch let e as OutboxError {
                throw ValidationError("--sink: \(e.message)")
            }
        }

        func make(logger: Logger) throws -> any OutboxSink {
            switch self {
            case .stdout: return StdoutSink()
            case .file(let path): return try FileSink(path: path)
            case .nats(let c): return NATSSink(configuration: c, logger: logger)
            case .mqtt(let c): return MQTTSink(configuration: c, logger: logger)
            case .kafka(let c): return KafkaSink(configuration: c, logger: logger)
            }
        }
    }

    /// Checks a `--sink` spec, with the broker's options, before anything runs.
    static func validateSink(_ spec: String) throws { _ = try SinkChoice(spec) }

    static func makeSink(_ spec: String, logger: Logger) throws -> any OutboxSink { try SinkChoice(spec).make(logger: logger) }

    func run() async throws {
        try await reportingErrors {
            let logger = CLILogging.logger("outbox.relay")
            var config = OutboxRelayConfiguration()
            config.sweepInterval = .milliseconds(Int64(sweepInterval * 1000))
            config.minimumAge = .milliseconds(Int64(minAge * 1000))
            config.maxOutageBackoff = .milliseconds(Int64(maxOutageBackoff * 1000))
            config.maxAttempts = maxAttempts
            config.batchSize = batch
            config.strictOrder = strictOrder
            config.waitForOutbox = waitForOutbox
            let relay = OutboxRelay(path: dir, sink: try Self.makeSink(sink, logger: logger), configuration: config, logger: logger)
            let group = ServiceGroup(configuration: .init(
                services: [relay], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}

struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List dead-lettered messages, or ask the relay to republish them (redrive).",
        discussion: """
            redrive needs no lock: it works while a writer and a relay run. The relay republishes each \
            chosen dead letter with its original sequence number and id as soon as it sees the request, \
            ahead of its key's pending messages, then marks it redriven. Without a running relay, the \
            next relay to start does it.
            """)

    enum Action: String, ExpressibleByArgument, CaseIterable { case list, redrive }

    @Argument(help: "The outbox directory.") var dir: String
    @Argument(help: "list or redrive.") var action: Action
    @Flag(help: "JSON Lines (list).") var json = false
    @Option(name: .customLong("seq"), help: "Only this dead letter's original sequence number (repeatable; redrive).") var seqs: [UInt64] = []
    @Option(help: "Seconds redrive waits for a running relay to republish them (0: do not wait).") var wait: Double = 30

    func validate() throws {
        try RelayCommand.validateSeconds(wait, "--wait", allowZero: true)
    }

    func run() async throws {
        try await reportingErrors {
            _ = CLILogging.bootstrap
            let reader = try OutboxReader(path: dir)
            switch action {
            case .list:
                for d in try reader.deadLetters() {
                    let status = d.redriven ? "redriven" : d.redriveRequested ? "redrive-requested" : "dead"
                    if json {
                        var j = JSONLine()
                        j.number("seq", d.seq)
                        j.string("status", status)
                        j.string("id", d.message.id.description)
                        j.string("type", d.message.type)
                        j.string("key", d.message.key)
                        j.string("reason", d.reason)
                        j.string("lastError", d.lastError)
                        j.number("attempts", d.attempts)
                        j.string("deadAt", rfc3339(micros: d.deadAtMicros))
                        j.bool("redriven", d.redriven)
                        Output.shared.write(j.text + "\n")
                    } else {
                        Output.shared.write("\(d.seq)  \(rfc3339(micros: d.deadAtMicros))  \(d.message.type)  key=\(d.message.key ?? "-")  "
                                            + "attempts=\(d.attempts)  \(status)  \(d.reason): \(d.lastError)\n")
                    }
                }
                // Sequence numbers tombstoned as dead with no dead letter: lost to a repair.
                for r in try reader.lostSequenceNumbers().ranges {
                    if json {
                        var j = JSONLine()
                        j.number("seq", r.lowerBound)
                        j.number("lastSeq", r.upperBound)
                        j.string("status", "lost")
                        j.string("reason", "unreadable, taken out by verify --repair (no dead letter: the content is gone)")
                        Output.shared.write(j.text + "\n")
                    } else {
                        let span = r.count == 1 ? "\(r.lowerBound)" : "\(r.lowerBound)...\(r.upperBound)"
                        Output.shared.write("\(span)  lost  unreadable, taken out by verify --repair (no dead letter: the content is gone)\n")
                    }
                }
            case .redrive:
                let requested = try reader.requestRedrive(seqs.isEmpty ? nil : seqs)
                guard !requested.isEmpty else {
                    StandardError.line("nothing to redrive: every dead letter\(seqs.isEmpty ? "" : " asked for") is redriven already")
                    return
                }
                let range = SequenceRangeSet(requested)
                guard let relay = try reader.stats().relayPid else {
                    StandardError.line("asked to redrive \(requested.count) message(s) (\(range)); no relay runs: the next relay to start republishes them")
                    return
                }
                guard wait > 0 else {
                    StandardError.line("asked relay \(relay) to redrive \(requested.count) message(s) (\(range))")
                    return
                }
                let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
                let wanted = Set(requested)
                while true {
                    let waiting = try reader.deadLetters().filter { wanted.contains($0.seq) && $0.redriveRequested }
                    if waiting.isEmpty { break }
                    guard ContinuousClock.now < deadline else {
                        StandardError.line("outbox: error: relay \(relay) has not republished \(waiting.count) of \(requested.count) requested message(s) "
                                           + "within \(wait) s (is its sink unreachable?); the request stands")
                        throw ExitCode(1)
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let letters = try reader.deadLetters().filter { wanted.contains($0.seq) }
                let again = letters.filter { !$0.redriven }
                StandardError.line("relay \(relay) republished \(letters.count - again.count) of \(requested.count) message(s) (\(range))"
                                   + (again.isEmpty ? "" : "; \(again.count) failed again and are dead letters again"))
                if !again.isEmpty { throw ExitCode(1) }
            }
        }
    }
}
