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
        "Where to publish: stdout, file:PATH (JSON Lines, fdatasynced per batch), nats://HOST:PORT (JetStream), mqtt://HOST[:PORT] or kafka://HOST:PORT[,HOST:PORT].",
        discussion: """
            NATS options follow a '?': subject=S (default outbox.{type}), stream=N (default OUTBOX), create-stream=true|false.
            MQTT options: topic=T (default outbox/{type}), qos=1|2 (default 1), client-id=ID.
            Kafka options: topic=T (default outbox.{type}).
            {type} and {key} in a subject or topic are replaced by the message's type and key.
            """))
    var sink: String = "stdout"
    @Option(help: "Seconds between fallback sweeps (republish stragglers, compact).") var sweepInterval: Double = 30
    @Option(help: "The sweep republishes pending messages at least this many seconds old.") var minAge: Double = 30
    @Option(help: "Attempts before a message is dead-lettered.") var maxAttempts: Int = 10
    @Option(help: "Messages per sink call.") var batch: Int = 100
    @Flag(help: "Publish in global sequence order, not only per key.") var strictOrder = false

    func validate() throws {
        guard sweepInterval > 0, minAge >= 0 else { throw ValidationError("--sweep-interval must be positive and --min-age not negative") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        try Self.validateSink(sink)
    }

    /// Checks a `--sink` spec, with the broker's options, before anything runs.
    static func validateSink(_ spec: String) throws {
        guard spec == "stdout" || (spec.hasPrefix("file:") && spec.count > 5) || spec.hasPrefix("nats://") || spec.hasPrefix("mqtt://")
                || spec.hasPrefix("kafka://") else {
            throw ValidationError("--sink must be stdout, file:PATH, nats://HOST:PORT, mqtt://HOST[:PORT] or kafka://HOST:PORT, not '\(spec)'")
        }
        if spec.hasPrefix("nats://") { _ = try NATSSinkConfiguration(parsing: spec) }
        if spec.hasPrefix("mqtt://") { _ = try MQTTSinkConfiguration(parsing: spec) }
        if spec.hasPrefix("kafka://") { _ = try KafkaSinkConfiguration(parsing: spec) }
    }

    static func makeSink(_ spec: String, logger: Logger) throws -> any OutboxSink {
        if spec == "stdout" { return StdoutSink() }
        if spec.hasPrefix("nats://") { return NATSSink(configuration: try NATSSinkConfiguration(parsing: spec), logger: logger) }
        if spec.hasPrefix("mqtt://") { return MQTTSink(configuration: try MQTTSinkConfiguration(parsing: spec), logger: logger) }
        if spec.hasPrefix("kafka://") { return KafkaSink(configuration: try KafkaSinkConfiguration(parsing: spec), logger: logger) }
        return try FileSink(path: String(spec.dropFirst("file:".count)))
    }

    func run() async throws {
        try await reportingErrors {
            let logger = CLILogging.logger("outbox.relay")
            var config = OutboxRelayConfiguration()
            config.sweepInterval = .milliseconds(Int64(sweepInterval * 1000))
            config.minimumAge = .milliseconds(Int64(minAge * 1000))
            config.maxAttempts = maxAttempts
            config.batchSize = batch
            config.strictOrder = strictOrder
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
        abstract: "List dead-lettered messages, or re-append them (redrive).")

    enum Action: String, ExpressibleByArgument, CaseIterable { case list, redrive }

    @Argument(help: "The outbox directory.") var dir: String
    @Argument(help: "list or redrive.") var action: Action
    @Flag(help: "JSON Lines (list).") var json = false
    @Option(name: .customLong("seq"), help: "Only this dead letter's original sequence number (repeatable; redrive).") var seqs: [UInt64] = []

    func run() async throws {
        try await reportingErrors {
            let logger = CLILogging.logger()
            switch action {
            case .list:
                for d in try OutboxReader(path: dir).deadLetters() {
                    if json {
                        var j = JSONLine()
                        j.number("seq", d.seq)
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
                                            + "attempts=\(d.attempts)  \(d.redriven ? "redriven" : "dead")  \(d.reason): \(d.lastError)\n")
                    }
                }
            case .redrive:
                var config = OutboxConfiguration()
                config.createIfMissing = false
                let outbox = try await Outbox.open(at: dir, configuration: config, logger: logger)
                let new = try await outbox.redrive(seqs.isEmpty ? nil : seqs)
                try await outbox.close()
                StandardError.line("redrove \(new.count) message(s)" + (new.isEmpty ? "" : " as \(new.first!)...\(new.last!)"))
            }
        }
    }
}
