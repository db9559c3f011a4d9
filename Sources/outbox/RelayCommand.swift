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
            The sink is checked at start: a misconfiguration (a stream that does not cover the subject, bad credentials, an unknown option) exits 78 (EX_CONFIG); an unreachable broker is an outage, waited out.
            """))
    var sink: String?
    @Option(help: "Read the --sink spec from this file (keeps passwords out of the command line and of ps).")
    var sinkFile: String?
    @Option(parsing: .unconditional, help: "Seconds between fallback sweeps (republish stragglers, compact).") var sweepInterval: Double = 30
    @Option(parsing: .unconditional, help: "The sweep republishes pending messages at least this many seconds old.") var minAge: Double = 30
    @Option(parsing: .unconditional, help: "Attempts before a message the sink failed is dead-lettered (an unreachable sink counts none).") var maxAttempts: Int = 10
    @Option(parsing: .unconditional, help: "At most this many messages per sink call (batches are this large only while a backlog drains).") var batch: Int = 1000
    @Option(parsing: .unconditional, help: "While the sink is unreachable, the longest wait in seconds between probes.") var maxOutageBackoff: Double = 30
    @Option(parsing: .unconditional, help: "Seconds after its creation a message without a deliver-by deadline of its own expires (never published; tombstoned as expired). Default: never.")
    var defaultTtl: Double?
    @Option(parsing: .unconditional, help: "An uplink cap: at most this many bytes a second on the wire (payload, headers, the protocol's framing; K, M, G suffixes). Default: none.")
    var maxBytesPerSecond: ByteSize?
    @Option(parsing: .unconditional, help: "With --max-bytes-per-second: how many bytes may go at once after an idle spell. Default: one second at the cap.")
    var burstBytes: ByteSize?
    @Option(parsing: .unconditional, help: "An uplink budget per hour, day or month (UTC), kept across restarts: SIZE/PERIOD, e.g. 10M/day. Once spent, messages wait for the next period. Default: none.")
    var uplinkBudget: UplinkBudgetArgument?
    @Option(help: "With --uplink-budget, once it is spent: hold (every message waits for the next period, the default) or critical-only (lane critical goes on, its bytes counted past the budget).")
    var whenBudgetSpent: UplinkBudget.WhenSpent?
    @Option(help: "The lanes read by their own positions and their weights in the uplink's share, in the order they go within a round: NAME=WEIGHT,... (default critical=8,normal=4,bulk=1; messages of other lanes go with normal).")
    var lanes: String?
    @Option(parsing: .unconditional, help: "Live before backlog: once a lane is this many seconds behind, its new key-less messages are read by a position of their own and share the lane's uplink with its backlog; whatever is published later than this carries outbox-delayed-by (milliseconds). Default: off.")
    var liveWithin: Double?
    @Option(parsing: .unconditional, help: "With --live-within: live's share of its lane while both have messages ready, more than 0 and less than 1 (default 0.5).")
    var liveShare: Double?
    @OptionGroup var keys: KeyOptions
    @Flag(help: "Also copy expired messages to the dead-letter file (their status stays expired; they can be redriven).")
    var deadLetterExpired = false
    @Flag(help: "Publish in global sequence order, not only per key.") var strictOrder = false
    @Option(help: "Damage in a sealed segment: refuse (stop, the default) or quarantine (move it to DIR/quarantine/, keep every intact message, go on).")
    var onDamage: DamagePolicy = .refuse
    @Flag(help: "Wait as a standby while DIR is not an outbox yet (default: exit 66).") var waitForOutbox = false
    @Option(help: "Serve /metrics (Prometheus text format) and /healthz on HOST:PORT.") var metrics: String?
    @Option(parsing: .unconditional, help: "/healthz turns 503 once the sink is unreachable and the oldest pending message is older than this many seconds.")
    var unhealthyAfter: Double = 300
    @Option(help: "Log lines as text (default) or json (one object per line); also OUTBOX_LOG_FORMAT.") var logFormat: CLILogging.Format?
    @Option(help: ArgumentHelp(
        "Read options from this JSON file (also OUTBOX_CONFIG): an object of option names to values.",
        discussion: #"For example {"sink-file": "/etc/outbox/sink", "metrics": "127.0.0.1:9464", "max-attempts": 20, "wait-for-outbox": true}. The command line wins over the environment, which wins over the file. Several sinks: {"routes": [{"name": "cloud", "sink": "nats://…", "match": {"type": "Alarm*"}}, {"name": "audit", "sink": "file:/var/log/audit.jsonl"}]} (a route without "match" takes every message; match takes type, key and header globs; a route may set batch, max-attempts, max-outage-backoff, default-ttl, strict-order, dead-letter-expired, max-bytes-per-second, burst-bytes, uplink-budget, when-budget-spent, lanes, live-within, live-share and from-now)."#))
    var config: String?

    func validate() throws {
        try Self.validateSeconds(sweepInterval, "--sweep-interval", allowZero: false)
        try Self.validateSeconds(minAge, "--min-age", allowZero: true)
        try Self.validateSeconds(maxOutageBackoff, "--max-outage-backoff", allowZero: false)
        if let defaultTtl { try Self.validateSeconds(defaultTtl, "--default-ttl", allowZero: false) }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        for (value, name) in [(maxBytesPerSecond, "--max-bytes-per-second"), (burstBytes, "--burst-bytes")] {
            if let value, value.bytes < 1 || value.bytes > Int64(Int32.max) { throw ValidationError("\(name) must be 1 byte to 2 GiB") }
        }
        if burstBytes != nil, maxBytesPerSecond == nil { throw ValidationError("--burst-bytes needs --max-bytes-per-second") }
        if whenBudgetSpent != nil, uplinkBudget == nil { throw ValidationError("--when-budget-spent needs --uplink-budget") }
        if let lanes, case .failure(let e) = LaneWeightsArgument.parse(lanes) { throw ValidationError("--lanes \(lanes.debugDescription): \(e)") }
        if let liveWithin { try Self.validateSeconds(liveWithin, "--live-within", allowZero: false) }
        if let liveShare {
            guard liveWithin != nil else { throw ValidationError("--live-share needs --live-within") }
            guard liveShare > 0, liveShare < 1 else { throw ValidationError("--live-share must be more than 0 and less than 1, not \(liveShare)") }
        }
        if liveWithin != nil, strictOrder { throw ValidationError("--live-within cannot be used with --strict-order (nothing may pass the backlog)") }
        if try routesFromFile() != nil {
            guard sink == nil, sinkFile == nil else {
                throw ValidationError("give --sink (or --sink-file) or routes in --config, not both")
            }
        } else {
            guard (sink == nil) != (sinkFile == nil) else { throw ValidationError("give --sink or --sink-file (exactly one), or routes in --config") }
            try Self.validateSink(try resolvedSink())
        }
        try Self.validateSeconds(unhealthyAfter, "--unhealthy-after", allowZero: true)
        if let metrics { _ = try Self.hostAndPort(metrics) }
    }

    /// The routes of the `--config` file (or `OUTBOX_CONFIG`), if it has any.
    func routesFromFile() throws -> [RelayRoutesFile.Route]? {
        guard let path = config ?? ProcessInfo.processInfo.environment["OUTBOX_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) else { return nil }
        return try RelayRoutesFile.routes(at: path)
    }

    /// The sink spec: `--sink`, or the first line of `--sink-file`.
    func resolvedSink() throws -> String {
        if let sink { return sink }
        guard let file = sinkFile else { throw ValidationError("give --sink or --sink-file") }
        guard let bytes = try? BoundedFile.read(file, limit: 64 << 10), let text = String(validating: bytes, as: UTF8.self),
              let line = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }), !line.isEmpty else {
            throw ValidationError("--sink-file \(file) cannot be read, is larger than 64 KiB, or holds no sink spec")
        }
        return line
    }

    /// Every option of `relay` may also come from the environment: `OUTBOX_` and the option's name in
    /// capitals with `_` for `-` (`OUTBOX_SINK`, `OUTBOX_SINK_FILE`, `OUTBOX_METRICS`,
    /// `OUTBOX_MAX_ATTEMPTS`...; flags take `true` or `1`), or from `--config FILE` (``RelayConfigFile``).
    /// The command line wins over the environment, which wins over the file.
    static let settableOptions = ["sink", "sink-file", "sweep-interval", "min-age", "max-attempts", "batch",
                                  "max-outage-backoff", "default-ttl", "metrics", "unhealthy-after", "log-format", "on-damage",
                                  "max-bytes-per-second", "burst-bytes", "uplink-budget", "when-budget-spent", "lanes", "live-within", "live-share", "key-file", "key-env", "key-credential"]
    static let settableFlags = ["strict-order", "wait-for-outbox", "dead-letter-expired"]

    /// The arguments the environment adds to `arguments` (those after `relay`).
    static func environmentArguments(_ arguments: [String], environment: [String: String]) -> [String] {
        func variable(_ name: String) -> String { "OUTBOX_" + name.uppercased().replacingOccurrences(of: "-", with: "_") }
        var values: [String: String] = [:]
        for name in settableOptions + settableFlags {
            if let value = environment[variable(name)], !value.isEmpty { values[name] = value }
        }
        return settingArguments(values, over: arguments)
    }

    /// The arguments that `values` (option name to value; a flag's value `true`, `yes` or `1` sets it)
    /// add to `arguments`: only options `arguments` does not give.
    static func settingArguments(_ values: [String: String], over arguments: [String]) -> [String] {
        func given(_ name: String) -> Bool { arguments.contains { $0 == "--" + name || $0.hasPrefix("--" + name + "=") } }
        var extra: [String] = []
        for name in settableOptions where !given(name) {
            if let value = values[name] { extra += ["--" + name, value] }
        }
        // --sink and --sink-file exclude each other: one already given beats the other's setting.
        if given("sink") || given("sink-file"), let i = extra.firstIndex(where: { $0 == "--sink" || $0 == "--sink-file" }) {
            extra.removeSubrange(i...(i + 1))
        }
        for name in settableFlags where !given(name) {
            if let value = values[name], ["1", "true", "yes"].contains(value.lowercased()) { extra.append("--" + name) }
        }
        return extra
    }

    /// `HOST:PORT` of `--metrics`.
    static func hostAndPort(_ text: String) throws -> (host: String, port: Int) {
        guard let (host, port) = try? SinkSpec.hostAndPort(Substring(text), what: "--metrics"), let port else {
            throw ValidationError("--metrics must be HOST:PORT or [IPv6]:PORT (port 1-65535), not '\(text)'")
        }
        return (host, port)
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

        /// The sink; `outbox` fills `{outbox}` in a subject or topic.
        func make(logger: Logger, outbox: OutboxID? = nil) throws -> any OutboxSink {
            switch self {
            case .stdout: return StdoutSink()
            case .file(let path): return try FileSink(path: path)
            case .nats(var c):
                c.outboxID = outbox
                return NATSSink(configuration: c, logger: logger)
            case .mqtt(var c):
                c.outboxID = outbox
                return MQTTSink(configuration: c, logger: logger)
            case .kafka(var c):
                c.outboxID = outbox
                return KafkaSink(configuration: c, logger: logger)
            }
        }
    }

    /// Checks a `--sink` spec, with the broker's options, before anything runs.
    static func validateSink(_ spec: String) throws { _ = try SinkChoice(spec) }

    /// The sink of a spec; `{outbox}` in its subject or topic takes the id of the outbox at `dir` (when
    /// there is one: without it the sink refuses to connect, naming the placeholder), and so does the
    /// default CloudEvents source.
    static func makeSink(_ spec: String, logger: Logger, dir: String? = nil) throws -> any OutboxSink {
        // The default CloudEvents source names the outbox too (``CloudEventsOptions/defaultSource(outboxID:)``).
        let outbox = spec.contains("{outbox}") || spec.contains("cloudevents=") ? dir.flatMap { try? OpenedOutbox(path: $0).id } : nil
        return try SinkChoice(spec).make(logger: logger, outbox: outbox)
    }

    func run() async throws {
        try await reportingErrors {
            if let logFormat { CLILogging.requestedFormat = logFormat }
            let logger = CLILogging.logger("outbox.relay")
            var config = OutboxRelayConfiguration()
            config.sweepInterval = .milliseconds(Int64(sweepInterval * 1000))
            config.minimumAge = .milliseconds(Int64(minAge * 1000))
            config.maxOutageBackoff = .milliseconds(Int64(maxOutageBackoff * 1000))
            config.maxAttempts = maxAttempts
            config.batchSize = batch
            config.strictOrder = strictOrder
            config.defaultTimeToLive = defaultTtl.map { .milliseconds(Int64($0 * 1000)) }
            config.deadLetterExpired = deadLetterExpired
            config.maxBytesPerSecond = maxBytesPerSecond.map { Int($0.bytes) }
            config.burstBytes = burstBytes.map { Int($0.bytes) }
            config.uplinkBudget = uplinkBudget?.budget
            if let whenBudgetSpent { config.uplinkBudget?.whenSpent = whenBudgetSpent }
            if let lanes, case .success(let weights) = LaneWeightsArgument.parse(lanes) { config.lanes = weights }
            config.live = liveWithin.map { LiveShare(within: .milliseconds(Int64($0 * 1000)), share: liveShare ?? 0.5) }
            config.onDamage = onDamage
            config.keys = try keys.load()
            config.waitForOutbox = waitForOutbox
            // The metrics backend is bootstrapped before the relay creates its metrics (the library never does).
            let registry = metrics == nil ? nil : CLIMetrics.bootstrap()
            // Metric labels and log lines name the outbox by its absolute path, however it was typed.
            let dir = URL(fileURLWithPath: self.dir).standardizedFileURL.path
            let relay: OutboxRelay
            if let routes = try routesFromFile() {
                relay = OutboxRelay(path: dir, routes: try RelayRoutesFile.make(routes, base: config, logger: logger, dir: dir), configuration: config,
                                    logger: logger)
            } else {
                relay = OutboxRelay(path: dir, sink: try Self.makeSink(try resolvedSink(), logger: logger, dir: dir), configuration: config,
                                    logger: logger)
            }
            var endpoints: RelayEndpoints?
            if let metrics, let registry {
                let (host, port) = try Self.hostAndPort(metrics)
                endpoints = try await RelayEndpoints(host: host, port: port, registry: registry, relay: relay, path: dir,
                                                     keys: config.keys, unhealthyAfter: unhealthyAfter)
                logger.notice("serving /metrics and /healthz", metadata: ["address": "\(endpoints!.address)"])
            }
            let group = ServiceGroup(configuration: .init(
                services: [relay], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            // SIGHUP (a closed terminal, `systemctl reload`) never kills the relay.
            signal(SIGHUP, SIG_IGN)
            let notifier = SystemdNotifier().map { n in Task { await n.follow(relay) } }
            defer { notifier?.cancel() }
            do {
                try await group.run()
            } catch {
                await endpoints?.close()
                throw error
            }
            await endpoints?.close()
        }
    }
}
