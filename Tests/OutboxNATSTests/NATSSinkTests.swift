import Foundation
import Logging
import Outbox
import OutboxBrokerTestSupport
import OutboxTestSupport
@testable import OutboxNATS
import Testing

@Suite("NATS JetStream sink")
struct NATSSinkTests {
    /// A sink on `url`. Its publish timeout is generous by default: with every suite running at once, a
    /// shared server's acknowledgements can lag by seconds (the tests that time out pass their own).
    private func sink(_ url: String, _ names: (stream: String, subject: String), timeout: Duration = .seconds(30)) -> NATSSink {
        var config = NATSSinkConfiguration(url: url)
        config.stream = names.stream
        config.subject = names.subject
        config.publishTimeout = timeout
        config.connectTimeout = .seconds(1)
        return NATSSink(configuration: config, logger: quietLogger)
    }

    @Test func aRelayPublishesEveryMessageToJetStreamInKeyOrderWithItsId() async throws {
        let names = uniqueStream("relay")
        let sent = try await appendAndRelay(sampleEvents(600, keys: 7), to: sink(sharedNATSURL, names))

        let probe = try JetStreamProbe(url: sharedNATSURL)
        let inStream = try await onOwnThread { probe.messages(names.stream) }
        #expect(inStream.count == 600, "each message stored once")
        #expect(Set(inStream.compactMap(\.seq)) == Set(1...600))
        #expect(perKeyOrderHolds(inStream.map { ($0.headers["Outbox-Key"], $0.seq ?? 0) }), "per-key order in the stream")
        for s in inStream {
            let original = try #require(sent[s.seq ?? 0])
            #expect(s.headers["Nats-Msg-Id"] == original.id.description)
            #expect(s.headers["Outbox-Type"] == original.type)
            #expect(s.headers["tenant"] == original.headers[0].value)
            #expect(s.data == original.payload)
            #expect(s.subject == names.subject.replacingOccurrences(of: "{type}", with: original.type))
        }
    }

    @Test func aRepublishedBatchIsDroppedByJetStreamAsADuplicate() async throws {
        let names = uniqueStream("dedup")
        let sink = sink(sharedNATSURL, names)
        let batch = (1...50).map { stored(UInt64($0), key: "k\($0 % 4)") }
        let first = await sink.publish(batch)
        #expect(first == Array(repeating: .published, count: 50), "\(first.filter { $0 != .published })")
        // A relay that crashed before writing its tombstones publishes the same messages again.
        let again = await sink.publish(batch)
        #expect(again == Array(repeating: .published, count: 50), "a duplicate counts as published: \(again.filter { $0 != .published })")
        let probe = try JetStreamProbe(url: sharedNATSURL)
        #expect(try await onOwnThread { probe.count(names.stream) } == 50, "JetStream kept one copy of each")
    }

    @Test func aMessageNATSCannotCarryIsRejectedAndHoldsBackOnlyItsKey() async throws {
        let names = uniqueStream("reject")
        let sink = sink(sharedNATSURL, names)
        let batch = [
            stored(1, key: "a", headers: [.init("note", "two\nlines")]),
            stored(2, key: "a"),
            stored(3, key: "b"),
            stored(4, key: "c", headers: [.init("Nats-Expected-Stream", "X")]),
            stored(5, key: nil),
        ]
        let outcomes = await sink.publish(batch)
        guard case .rejected(let why) = outcomes[0] else { Issue.record("\(outcomes[0])"); return }
        #expect(why.contains("line break"))
        guard case .failed = outcomes[1] else { Issue.record("message 2 follows a failed message of its key: \(outcomes[1])"); return }
        #expect(outcomes[2] == .published)
        guard case .rejected(let reserved) = outcomes[3] else { Issue.record("\(outcomes[3])"); return }
        #expect(reserved.contains("reserved"))
        #expect(outcomes[4] == .published)
        let probe = try JetStreamProbe(url: sharedNATSURL)
        #expect(Set(try await onOwnThread { probe.messages(names.stream) }.compactMap(\.seq)) == [3, 5])
    }

    @Test func anUnreachableBrokerMakesTheSinkUnavailableNotTheMessagesFailed() async throws {
        let port = try freeLoopbackPort()
        let sink = sink("nats://127.0.0.1:\(port)", uniqueStream("down"))
        let outcomes = await sink.publish([stored(1, key: "a"), stored(2, key: nil)])
        #expect(outcomes.count == 2)
        for o in outcomes {
            guard case .unavailable(let why) = o else { Issue.record("expected the sink to be unavailable, got \(o)"); continue }
            #expect(why.contains("NATS"), "\(why)")
        }
        await #expect(throws: OutboxError.self) { try await sink.connect() }
        guard case .unavailable = try await sink.checkAvailability() else {
            Issue.record("an unreachable broker is an outage, not a misconfiguration")
            return
        }
    }

    @Test func aBrokerOutageIsRetriedUntilEveryMessageIsStoredOnce() async throws {
        let server = try await onOwnThread { try NATSServer() }
        let names = uniqueStream("outage")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let relay = OutboxRelay(path: dir, sink: sink(server.url, names, timeout: .milliseconds(500)),
                                configuration: brokerRelayConfiguration(), outbox: outbox, logger: quietLogger)
        let task = Task { try await relay.run() }
        for i in 1...100 { try await outbox.append(OutboxMessage(type: "E", key: "k\(i % 5)", payload: [UInt8(i)])) }
        try await eventually("the first 100 published") { try OutboxReader(path: dir).stats().pending == 0 }
        try await onOwnThread { server.broker.kill() }
        for i in 101...200 { try await outbox.append(OutboxMessage(type: "E", key: "k\(i % 5)", payload: [UInt8(i % 256)])) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try OutboxReader(path: dir).stats().pending > 0, "nothing is tombstoned while the broker is down")
        try await onOwnThread { try server.broker.start() }
        try await eventually("everything published after the broker came back", timeout: .seconds(30)) {
            try OutboxReader(path: dir).stats().pending == 0
        }
        task.cancel()
        try await task.value
        try await outbox.close()
        let probe = try JetStreamProbe(url: server.url)
        let inStream = try await onOwnThread { probe.messages(names.stream) }
        #expect(inStream.compactMap(\.seq).sorted() == Array(1...200), "every message stored exactly once")
        #expect(perKeyOrderHolds(inStream.map { ($0.headers["Outbox-Key"], $0.seq ?? 0) }))
    }

    @Test func aServerThatWantsAPasswordGetsTheOneInTheURL() async throws {
        let server = try await onOwnThread { try NATSServer(extraArguments: ["--user", "relay", "--pass", "s3cret"]) }
        let port = server.broker.port
        let names = uniqueStream("auth")
        let good = sink("nats://relay:s3cret@127.0.0.1:\(port)", names)
        #expect(await good.publish([stored(1, key: "a")]) == [.published])
        let bad = sink("nats://relay:wrong@127.0.0.1:\(port)", names)
        await #expect(throws: OutboxError.self) { try await bad.connect() }
        do {
            _ = try await bad.checkAvailability()
            Issue.record("a wrong password is a misconfiguration, found at the startup check")
        } catch let e as OutboxError {
            #expect(e.code == .invalidArgument, "\(e)")
            #expect(!"\(e)".contains("wrong"), "the password never appears in an error: \(e)")
        }
        #expect(!bad.displayName.contains("wrong") && bad.displayName.contains("relay:***@"), "\(bad.displayName)")
    }

    /// The startup check: a stream that does not cover the subject, a missing stream without
    /// create-stream, and a wrong password each stop `outbox relay` at once with one line, and no line
    /// (even at trace level) shows the password.
    @Test func startupMisconfigurationsStopTheToolWithOneLine() async throws {
        let server = try await onOwnThread { try NATSServer(extraArguments: ["--user", "relay", "--pass", "s3cret"]) }
        let names = uniqueStream("cover")
        let url = "nats://relay:s3cret@127.0.0.1:\(server.broker.port)"
        #expect(await sink(url, names).publish([stored(1, key: "a")]) == [.published], "the stream exists, over \(names.subject)")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "1"]).status == 0)
        let cases: [(spec: String, says: String)] = [
            ("\(url)?stream=\(names.stream)&subject=elsewhere.{type}", "does not cover the subject elsewhere.{type}"),
            ("\(url)?stream=NOPE\(names.stream)&create-stream=false", "does not exist"),
            ("nats://relay:wrong@127.0.0.1:\(server.broker.port)?stream=\(names.stream)&subject=\(names.subject)", "NATS"),
        ]
        for c in cases {
            // A server the relay cannot reach at that moment (a loaded machine: the connection timed out) is
            // an outage it waits out, not the misconfiguration under test: then the case runs again.
            var r = try await runProgram(try outboxExecutable(), ["relay", dir, "--sink", c.spec], environment: ["OUTBOX_LOG_LEVEL": "trace"],
                                         timeout: .seconds(60))
            for _ in 0..<3 where r.status != 78 && r.stderr.contains("sink unreachable") && r.stderr.contains("No server available") {
                r = try await runProgram(try outboxExecutable(), ["relay", dir, "--sink", c.spec], environment: ["OUTBOX_LOG_LEVEL": "trace"],
                                         timeout: .seconds(60))
            }
            #expect(r.status == 78, "EX_CONFIG: \(c.spec): \(r.stderr)")
            let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("outbox: error [invalid-argument]:") }
            #expect(errors.count == 1 && errors[0].contains(c.says), "\(r.stderr)")
            #expect(!r.stderr.contains("s3cret") && !r.stderr.contains("wrong"), "no password in any line: \(r.stderr)")
        }
        #expect(try OutboxReader(path: dir).stats().pending == 1, "nothing was published")
    }

    /// Issue 25, item 4: with nothing to publish, a dead server looked healthy until the next publish. The
    /// client knows at once that it lost the server: the relay shows the outage then (its status, so
    /// `/healthz`), and the return once the server is back.
    @Test func anIdleRelayShowsALostServerAtOnce() async throws {
        let server = try await onOwnThread { try NATSServer() }
        let names = uniqueStream("idle")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        var config = NATSSinkConfiguration(url: server.url)
        (config.stream, config.subject, config.createStream) = (names.stream, names.subject, true)
        var relayConfig = brokerRelayConfiguration()
        relayConfig.sweepInterval = .seconds(3600)
        relayConfig.maxOutageBackoff = .milliseconds(500)
        let relay = OutboxRelay(path: dir, sink: NATSSink(configuration: config, logger: quietLogger), configuration: relayConfig,
                                outbox: outbox, logger: quietLogger)
        let task = Task { try await relay.run() }
        try await outbox.append(OutboxMessage(type: "E", key: "k", payload: [1]))
        try await eventually("published") { try OutboxReader(path: dir).stats().pending == 0 }
        #expect(relay.status == .active(sinkReachable: true))
        try await onOwnThread { server.broker.kill() }
        try await eventually("the idle relay shows the server gone", timeout: .seconds(10)) { relay.status == .active(sinkReachable: false) }
        #expect(try OutboxReader(path: dir).stats().sinkReachable == false, "and says so in its status file")
        try await onOwnThread { try server.broker.start() }
        try await eventually("and back", timeout: .seconds(30)) { relay.status == .active(sinkReachable: true) }
        task.cancel()
        try await task.value
        try await outbox.close()
    }

    /// No log line of the relay or the sink, at any level, through an outage and back, shows the password.
    @Test func secretsNeverAppearInTheLogs() async throws {
        let server = try await onOwnThread { try NATSServer(extraArguments: ["--user", "relay", "--pass", "s3cret"]) }
        let names = uniqueStream("secret")
        let log = LogCapture(level: .trace)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        var config = NATSSinkConfiguration(url: "nats://relay:s3cret@127.0.0.1:\(server.broker.port)")
        (config.stream, config.subject, config.publishTimeout) = (names.stream, names.subject, .milliseconds(500))
        var relayConfig = brokerRelayConfiguration()
        relayConfig.maxOutageBackoff = .milliseconds(200)
        let relay = OutboxRelay(path: dir, sink: NATSSink(configuration: config, logger: log.logger), configuration: relayConfig,
                                outbox: outbox, logger: log.logger)
        let task = Task { try await relay.run() }
        try await outbox.append(OutboxMessage(type: "E", key: "k", payload: [1]))
        try await eventually("published") { try OutboxReader(path: dir).stats().pending == 0 }
        try await onOwnThread { server.broker.kill() }
        try await outbox.append(OutboxMessage(type: "E", key: "k", payload: [2]))
        try await eventually("the outage logged") { !log.lines(containing: "sink unreachable").isEmpty }
        try await onOwnThread { try server.broker.start() }
        try await eventually("published after the outage") { try OutboxReader(path: dir).stats().pending == 0 }
        task.cancel()
        try await task.value
        try await outbox.close()
        #expect(log.lines.count >= 3)
        let leaking = log.lines.filter { $0.text.contains("s3cret") }
        #expect(leaking.isEmpty, "\(leaking.map(\.text))")
        #expect(log.lines(containing: "relay active").first?.metadata["sink"]?.contains("relay:***@") == true, "\(log.lines.map(\.text))")
    }

    @Test func tlsWithTheServersCertificateAuthority() async throws {
        let certificates = try await onOwnThread { try TestCertificates() }
        let server = try await onOwnThread {
            try NATSServer(extraArguments: ["--tls", "--tlscert", certificates.serverCertificate, "--tlskey", certificates.serverKey])
        }
        let names = uniqueStream("tls")
        let spec = "tls://127.0.0.1:\(server.broker.port)?ca=\(certificates.caFile)&subject=\(names.subject)&stream=\(names.stream)"
        let trusted = NATSSink(configuration: try NATSSinkConfiguration(parsing: spec), logger: quietLogger)
        #expect(await trusted.publish([stored(1, key: "a"), stored(2, key: "a")]) == [.published, .published])
        let untrusted = sink("tls://127.0.0.1:\(server.broker.port)", names)
        await #expect(throws: OutboxError.self, "the system's authorities do not know the test CA") { try await untrusted.connect() }
    }

    @Test func theSinkSpecOfTheToolParses() throws {
        let c = try NATSSinkConfiguration(parsing: "nats://127.0.0.1:4222?subject=orders.{key}&stream=ORDERS&create-stream=false")
        #expect(c.url == "nats://127.0.0.1:4222")
        #expect(c.subject == "orders.{key}" && c.stream == "ORDERS" && !c.createStream)
        #expect(c.streamSubject == "orders.*")
        #expect(c.subject(for: stored(1, key: "a.b c")) == "orders.a_b_c")
        #expect(throws: OutboxError.self) { try NATSSinkConfiguration(parsing: "nats://h:1?colour=red") }
        // Issue 25, item 6: a stream name JetStream refuses is refused when parsed, and by the sink at start.
        for bad in ["a.b", "a b", "a*", "a>", "a/b", ""] {
            #expect(throws: OutboxError.self, "\(bad)") { try NATSSinkConfiguration(parsing: "nats://h:1?stream=\(bad.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? bad)") }
        }
        #expect(throws: OutboxError.self) { try NATSSinkConfiguration(parsing: "http://h:1") }
        let secure = try NATSSinkConfiguration(parsing: "tls://h:4222?creds=/etc/relay.creds&ca=/etc/ca.pem")
        #expect(secure.url == "tls://h:4222" && secure.credentialsFile == "/etc/relay.creds" && secure.tls == TLSFiles(caFile: "/etc/ca.pem"))
        #expect(try NATSSinkConfiguration(parsing: "tls://h:4222").tls == TLSFiles())
        #expect(try NATSSinkConfiguration(parsing: "nats://h:4222").tls == nil)
        #expect(throws: OutboxError.self, "a certificate without its key") { try NATSSinkConfiguration(parsing: "nats://h:1?cert=/c.pem") }
    }

    /// `{outbox}` and `{host}` (issue 27, item 6): filled in once, their dots and wildcards as `_`; a
    /// subject naming `{outbox}` without an outbox id is refused when the sink connects.
    @Test func subjectsNameTheOutboxAndTheHost() async throws {
        var c = try NATSSinkConfiguration(parsing: "nats://127.0.0.1:1?subject=devices.{host}.{outbox}.{type}&stream=DEV")
        let id = OutboxID(bytes: Array(repeating: 0xab, count: 16))
        c.outboxID = id
        let host = SinkTemplate.hostName.replacingOccurrences(of: ".", with: "_")
        #expect(c.subject(for: stored(1, key: nil, type: "Alarm")) == "devices.\(host).\(id).Alarm")
        #expect(c.streamSubject == "devices.\(host).\(id).*")
        #expect(c.isCovered(by: ["devices.>"]) && c.isCovered(by: ["devices.\(host).\(id).*"]) && !c.isCovered(by: ["devices.other.*.*"]))
        c.outboxID = nil
        let unbound = NATSSink(configuration: c, logger: quietLogger)
        await #expect { try await unbound.connect() } throws: { e in
            (e as? OutboxError)?.code == .invalidArgument && "\(e)".contains("{outbox}")
        }
    }
}

@Suite("outbox relay --sink nats://", .serialized)
struct NATSRelayCommandTests {
    private func startRelay(_ dir: String, _ spec: String) throws -> ChildProcess {
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", spec, "--min-age", "0", "--sweep-interval", "0.05", "--batch", "50"]
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        return relay
    }

    /// DESIGN's relay-kill row: kill -9 the relay mid-batch (and mid-compaction, sweeping every 50 ms)
    /// while it publishes to JetStream, restart it, count at the broker: exactly once, thanks to
    /// `Nats-Msg-Id`.
    @Test func killingTheRelayMidBatchStoresEveryMessageExactlyOnce() async throws {
        let seed = testSeed("natsRelayKill")
        var g = SeededGenerator(seed: seed)
        let names = uniqueStream("kill")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let total = 3000
        #expect(try await runOutbox(["append", dir, "--count", String(total), "--keys", "13", "--concurrency", "8",
                                     "--segment-size", "65536"]).status == 0)
        let spec = "\(sharedNATSURL)?subject=\(names.subject)&stream=\(names.stream)"
        let probe = try JetStreamProbe(url: sharedNATSURL)
        for round in 0..<4 {
            let relay = try startRelay(dir, spec)
            let target = UInt64(min(total - 1, (round + 1) * 600 + Int.random(in: 0...300, using: &g)))
            try await eventually("round \(round): the broker has \(target)", timeout: .seconds(30)) { probe.count(names.stream) >= target }
            kill(relay.processIdentifier, SIGKILL)
            try await onOwnThread { relay.waitUntilExit() }
        }
        let last = try startRelay(dir, spec)
        try await eventually("everything tombstoned", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        last.terminate()
        try await onOwnThread { last.waitUntilExit() }
        let stored = try await onOwnThread { probe.messages(names.stream) }
        #expect(stored.count == total, "seed \(seed): each message stored exactly once (\(stored.count) for \(total))")
        #expect(Set(stored.compactMap(\.seq)) == Set(1...UInt64(total)), "seed \(seed)")
        #expect(perKeyOrderHolds(stored.map { ($0.headers["Outbox-Key"], $0.seq ?? 0) }), "seed \(seed)")
        let report = try OutboxInspector.verify(path: dir)
        #expect(report.isClean, "seed \(seed): \(report.problems)")
        print("[natsRelayKill] 4 kills, \(stored.count) messages in the stream for \(total) appended, seed \(seed)")
    }

    /// `outbox relay --sink 'nats://…?cloudevents=binary|structured'`: the CloudEvents SDK for Python
    /// decodes every message JetStream stored (the NATS binding's `ce-` headers are the HTTP binding's),
    /// with the outbox's id, type, source, time, subject and data.
    @Test(arguments: ["binary", "structured"])
    func theToolPublishesCloudEventsTheSDKDecodes(mode: String) async throws {
        let names = uniqueStream("ce")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let stored = try await appendCloudEventsSamples(to: dir)
        let relay = try startRelay(dir, "\(sharedNATSURL)?subject=\(names.subject)&stream=\(names.stream)&cloudevents=\(mode)&cloudevents-source=urn:test:nats")
        defer { if relay.isRunning { relay.terminate() } }
        try await eventually("all published", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        let probe = try JetStreamProbe(url: sharedNATSURL)
        let inStream = try await onOwnThread { probe.messages(names.stream) }
        let payloads = Dictionary(stored.map { ($0.message.id.description, $0.message.payload) }) { a, _ in a }
        let run = try await decodeWithCloudEventsSDK(inStream.map {
            ReadBack(binding: "http", headers: $0.headers, body: $0.data, key: nil, payload: payloads[$0.headers["Nats-Msg-Id"] ?? ""] ?? [])
        })
        #expect(run.status == 0, "\(run.stderr)")
        let problems = cloudEventsProblems(run.events, stored, source: "urn:test:nats")
        #expect(problems.isEmpty, "\(mode): \(problems.joined(separator: "\n"))")
    }

    @Test func theToolRelaysToJetStream() async throws {
        let names = uniqueStream("cli")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "200", "--keys", "5"]).status == 0)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        let spec = "\(sharedNATSURL)?subject=\(names.subject)&stream=\(names.stream)"
        relay.arguments = ["relay", dir, "--sink", spec, "--min-age", "0"]
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        let probe = try JetStreamProbe(url: sharedNATSURL)
        try await eventually("the relay stored all 200 in the stream") { probe.count(names.stream) == 200 }
        try await eventually("all 200 tombstoned") { try OutboxReader(path: dir).stats().pending == 0 }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationStatus == 0, "a clean exit after SIGTERM")
        #expect(Set(try await onOwnThread { probe.messages(names.stream) }.compactMap(\.seq)) == Set(1...200))
    }

    /// `outbox bench --sink nats://…`: the relay rows publish through JetStream, the drains against the C
    /// client publishing the same messages alone (the keyed one also in key order), and the stream holds
    /// each of their messages once.
    @Test func theBenchMeasuresARelayToJetStream() async throws {
        let names = uniqueStream("bench")
        let tmp = TemporaryDirectory()
        let spec = "\(sharedNATSURL)?subject=\(names.subject)&stream=\(names.stream)"
        let result = try await runOutbox(["bench", "--dir", tmp.path, "--quick", "--scale", "0.004", "--rounds", "1", "--only", "relay",
                                          "--sink", spec, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let scenarios = try #require(report["scenarios"] as? [String: [String: Any]])
        #expect(Set(scenarios.keys) == ["relay.sink.drain.keyed", "relay.sink.drain.keyless", "relay.sink.live"])
        let counts = try scenarios.values.map { try #require(($0["outbox"] as? [String: Any])?["operations"] as? NSNumber).intValue }
        #expect(counts.sorted() == [20, 200, 200], "50,000 and 5,000 messages scaled by 0.004")
        let probe = try JetStreamProbe(url: sharedNATSURL)
        #expect(result.stdout.contains("\"nats.async\""), "the drains' anchor: the C client publishing alone")
        #expect(result.stdout.contains("\"nats.keyOrder\""), "the keyed drain's bound: the C client keeping per-key order")
        // 420 from the relay's three runs, 3 x 200 from the client-alone baselines of the drains (two for
        // the keyed one: unordered and in key order).
        #expect(try await onOwnThread { probe.count(names.stream) } == 1020, "every message of the six runs stored once")
    }
}
