import Foundation
import Outbox
import OutboxBrokerTestSupport
@testable import OutboxMQTT
import Testing

@Suite("MQTT sink")
struct MQTTSinkTests {
    private func sink(_ url: String, topic: String, timeout: Duration = .seconds(5)) throws -> MQTTSink {
        var config = try MQTTSinkConfiguration(parsing: url)
        config.topic = topic
        config.clientID = "sink-\(UInt32.random(in: 0...UInt32.max))"
        config.publishTimeout = timeout
        config.connectTimeout = .seconds(5)
        return MQTTSink(configuration: config, logger: quietLogger)
    }

    /// `batch` published by `sink`, tried again (for up to 60 s) while the broker does not answer in time:
    /// on a loaded machine a fresh connection can miss its CONNACK deadline, an outage that is not what
    /// these tests are about.
    private func publishWaitingOutOutages(_ sink: MQTTSink, _ batch: [StoredMessage]) async -> [PublishOutcome] {
        var outcomes = await sink.publish(batch)
        let deadline = ContinuousClock.now + .seconds(60)
        while outcomes.allSatisfy({ if case .unavailable = $0 { true } else { false } }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(200))
            outcomes = await sink.publish(batch)
        }
        return outcomes
    }

    @Test func aRelayPublishesEveryMessageWithItsIdAndKeyOrder() async throws {
        let topic = uniqueTopic("relay")
        let probe = try await onOwnThread { try MQTTProbe(url: sharedMQTTURL, filter: topic.replacingOccurrences(of: "{type}", with: "+")) }
        let sent = try await appendAndRelay(sampleEvents(400, keys: 6), to: try sink(sharedMQTTURL, topic: topic))
        try await eventually("the subscriber received all 400") { probe.received.count >= 400 }

        let received = probe.received
        #expect(received.count == 400, "no message published twice on a healthy connection")
        #expect(Set(received.compactMap(\.seq)) == Set(1...400))
        #expect(perKeyOrderHolds(received.map { ($0.properties["outbox-key"], $0.seq ?? 0) }))
        for r in received {
            let original = try #require(sent[r.seq ?? 0])
            #expect(r.properties["outbox-id"] == original.id.description)
            #expect(r.properties["outbox-type"] == original.type)
            #expect(r.properties["tenant"] == original.headers[0].value)
            #expect(r.payload == original.payload)
            #expect(r.topic == topic.replacingOccurrences(of: "{type}", with: original.type))
        }
    }

    /// mosquitto leaves Nagle's algorithm on unless `set_tcp_nodelay true` (the brokers of these tests
    /// run with its defaults): it then holds a round's last PUBACK until our ACK of the one before, which
    /// delayed ACKs put off up to 40 ms, so that every round of a few keys took 40 ms (2,000 messages of
    /// 10 keys, 200 rounds: 9 s, against 0.1 s with `set_tcp_nodelay true`). The sink keeps its socket in
    /// quick-ACK mode: rounds take as long with either broker. Measured against each other, in turns, so
    /// that a loaded machine slows both alike, and compared by the fastest of three turns each: a turn the
    /// machine stalled (the whole suite runs at once on two cores) says nothing, whereas held PUBACKs
    /// would slow every turn to a broker with Nagle's algorithm by 2 s at least (50 rounds of 40 ms).
    @Test func roundsToABrokerWithNaglesAlgorithmOnAreNotHeldUpByDelayedACKs() async throws {
        let nagle = try await onOwnThread { try MosquittoBroker() }
        let nodelay = try await onOwnThread { try MosquittoBroker(settings: ["set_tcp_nodelay true"]) }
        var took: [Bool: [Duration]] = [true: [], false: []]
        for turn in 0..<6 {
            let withNagle = turn % 2 == 0
            let sink = try sink((withNagle ? nagle : nodelay).url, topic: uniqueTopic("nagle"))
            let messages = (1...500).map { stored(UInt64($0), key: "k\($0 % 10)") }  // 50 rounds of 10 keys
            // A broker the sink could not reach in time (a connect timeout on a loaded machine) is an outage,
            // not what this test measures: that turn runs again, timed alone.
            var (start, outcomes) = (ContinuousClock.now, [PublishOutcome]())
            for _ in 0..<5 {
                start = ContinuousClock.now
                outcomes = await sink.publish(messages)
                guard outcomes.contains(where: { if case .unavailable = $0 { true } else { false } }) else { break }
            }
            took[withNagle]!.append(ContinuousClock.now - start)
            #expect(outcomes.allSatisfy { $0 == .published }, "\(String(describing: outcomes.first { $0 != .published }))")
        }
        let (fastestNagle, fastestNoDelay) = (took[true]!.min()!, took[false]!.min()!)
        print("[nagle] turns of 50 rounds of 10 messages: \(took[true]!) to a broker with Nagle's algorithm on, \(took[false]!) without")
        #expect(fastestNagle < fastestNoDelay * 2 + .milliseconds(500), "with Nagle's algorithm: \(took[true]!), without: \(took[false]!)")
    }

    @Test func aMessageMQTTCannotCarryIsRejectedAndHoldsBackOnlyItsKey() async throws {
        let topic = uniqueTopic("reject")
        let probe = try await onOwnThread { try MQTTProbe(url: sharedMQTTURL, filter: topic.replacingOccurrences(of: "{type}", with: "+")) }
        let sink = try sink(sharedMQTTURL, topic: topic)
        let outcomes = await publishWaitingOutOutages(sink, [
            stored(1, key: "a", headers: [.init("note", "nul\u{0}inside")]),
            stored(2, key: "a"),
            stored(3, key: "b"),
            stored(4, key: nil),
        ])
        guard case .rejected(let why) = outcomes[0] else { Issue.record("\(outcomes[0])"); return }
        #expect(why.contains("NUL"))
        guard case .failed = outcomes[1] else { Issue.record("message 2 follows a failed message of its key: \(outcomes[1])"); return }
        #expect(outcomes[2] == .published && outcomes[3] == .published)
        try await eventually("the subscriber received 3 and 4") { probe.received.count >= 2 }
        #expect(Set(probe.received.compactMap(\.seq)) == [3, 4])
    }

    @Test func qos2PublishesOnceTheBrokerCompletesTheExchange() async throws {
        let topic = uniqueTopic("qos2")
        let probe = try await onOwnThread { try MQTTProbe(url: sharedMQTTURL, filter: topic.replacingOccurrences(of: "{type}", with: "+")) }
        var config = try MQTTSinkConfiguration(parsing: sharedMQTTURL + "?qos=2")
        config.topic = topic
        config.clientID = "sink-\(UInt32.random(in: 0...UInt32.max))"
        let sink = MQTTSink(configuration: config, logger: quietLogger)
        let batch = (1...60).map { stored(UInt64($0), key: "k\($0 % 4)") }
        #expect(await publishWaitingOutOutages(sink, batch) == Array(repeating: .published, count: 60))
        try await eventually("the subscriber received all 60") { probe.received.count >= 60 }
        #expect(probe.received.compactMap(\.seq).sorted() == Array(1...60))
        #expect(perKeyOrderHolds(probe.received.map { ($0.properties["outbox-key"], $0.seq ?? 0) }))
    }

    /// Issue 25, item 4: an idle relay shows a lost broker at once (libmosquitto's disconnect callback),
    /// and its return.
    /// `outbox relay --sink 'mqtt://…?cloudevents=binary|structured'`: the CloudEvents SDK for Python
    /// decodes every message the subscriber received (its user properties and Content Type given to the
    /// SDK's HTTP binding as `ce-` headers and `content-type`: the SDK has no MQTT binding), with the
    /// outbox's id, type, source, time, subject and data.
    @Test(arguments: ["binary", "structured"])
    func theToolPublishesCloudEventsTheSDKDecodes(mode: String) async throws {
        let topic = uniqueTopic("ce")
        let probe = try await onOwnThread { try MQTTProbe(url: sharedMQTTURL, filter: topic.replacingOccurrences(of: "{type}", with: "+")) }
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let stored = try await appendCloudEventsSamples(to: dir)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        let topicOption = topic.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        relay.arguments = ["relay", dir, "--sink", "\(sharedMQTTURL)?topic=\(topicOption)&cloudevents=\(mode)&cloudevents-source=urn:test:mqtt", "--min-age", "0"]
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { relay.terminate() } }
        try await eventually("all published", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        try await eventually("all received", timeout: .seconds(30)) { probe.received.count >= stored.count }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        let payloads = Dictionary(stored.map { ($0.message.id.description, $0.message.payload) }) { a, _ in a }
        let run = try await decodeWithCloudEventsSDK(probe.received.map { r in
            let id = mode == "binary" ? r.properties["id"]
                : (try? JSONSerialization.jsonObject(with: Data(r.payload)) as? [String: Any])?["id"] as? String
            return ReadBack.mqtt(properties: r.properties, contentType: r.contentType, body: r.payload, payload: payloads[id ?? ""] ?? [])
        })
        #expect(run.status == 0, "\(run.stderr)")
        let problems = cloudEventsProblems(run.events, stored, source: "urn:test:mqtt")
        #expect(problems.isEmpty, "\(mode): \(problems.joined(separator: "\n"))")
    }

    /// Issue 25, item 6: mqtts:// against a plaintext port reported "no CONNACK" and waited forever.
    @Test func tlsAgainstAPlaintextPortIsAMisconfiguration() async throws {
        let broker = try await onOwnThread { try MosquittoBroker() }
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "1"]).status == 0)
        let r = try await runOutbox(["relay", dir, "--sink", "mqtts://127.0.0.1:\(broker.broker.port)"], timeout: .seconds(90))
        #expect(r.status == 78 && r.stderr.contains("answers MQTT without TLS"), "\(r.status): \(r.stderr)")
    }

    @Test func anIPv6BrokerAddressParses() throws {
        let c = try MQTTSinkConfiguration(parsing: "mqtt://[::1]:1884?topic=a%2Fb")
        #expect(c.host == "::1" && c.port == 1884 && c.topic == "a/b")
        let d = try MQTTSinkConfiguration(parsing: "mqtts://u:p@[fe80::1]")
        #expect(d.host == "fe80::1" && d.port == 8883)
        #expect { try MQTTSinkConfiguration(parsing: "mqtt://u:s3cret@h:99999") } throws: { !"\($0)".contains("s3cret") }
    }

    @Test func anIdleRelayShowsALostBrokerAtOnce() async throws {
        let broker = try await onOwnThread { try MosquittoBroker() }
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        var config = try MQTTSinkConfiguration(parsing: broker.url)
        config.topic = uniqueTopic("idle")
        var relayConfig = brokerRelayConfiguration()
        relayConfig.sweepInterval = .seconds(3600)
        relayConfig.maxOutageBackoff = .milliseconds(500)
        let relay = OutboxRelay(path: dir, sink: MQTTSink(configuration: config, logger: quietLogger), configuration: relayConfig,
                                outbox: outbox, logger: quietLogger)
        let task = Task { try await relay.run() }
        try await outbox.append(OutboxMessage(type: "E", key: "k", payload: [1]))
        try await eventually("published") { try OutboxReader(path: dir).stats().pending == 0 }
        try await onOwnThread { broker.broker.kill() }
        try await eventually("the idle relay shows the broker gone", timeout: .seconds(10)) { relay.status == .active(sinkReachable: false) }
        try await onOwnThread { try broker.broker.start() }
        try await eventually("and back", timeout: .seconds(30)) { relay.status == .active(sinkReachable: true) }
        task.cancel()
        try await task.value
        try await outbox.close()
    }

    @Test func anUnreachableBrokerMakesTheSinkUnavailableNotTheMessagesFailed() async throws {
        let port = try freeLoopbackPort()
        let sink = try sink("mqtt://127.0.0.1:\(port)", topic: uniqueTopic("down"))
        let outcomes = await sink.publish([stored(1, key: "a"), stored(2, key: nil)])
        #expect(outcomes.count == 2)
        for o in outcomes {
            guard case .unavailable(let why) = o else { Issue.record("expected the sink to be unavailable, got \(o)"); continue }
            #expect(why.contains("MQTT"), "\(why)")
        }
        await #expect(throws: OutboxError.self) { try await sink.connect() }
        guard case .unavailable = try await sink.checkAvailability() else {
            Issue.record("an unreachable broker is an outage, not a misconfiguration")
            return
        }
    }

    /// libmosquitto reconnects without saying so; the sink's own handshake (``MQTTHandshake``) tells the
    /// relay when the broker is back, so it need not wait for its next probe.
    @Test func theSinkSaysWhenABrokerThatWentAwayIsBack() async throws {
        let broker = try await onOwnThread { try MosquittoBroker() }
        let sink = try sink(broker.url, topic: uniqueTopic("watch"))
        let told = CallCounter()
        sink.observeAvailability { told.increment() }
        #expect(await publishWaitingOutOutages(sink, [stored(1, key: "a")]) == [.published])
        try await onOwnThread { broker.broker.kill() }
        guard case .unavailable = await sink.publish([stored(2, key: "a")]).first else {
            Issue.record("a broker that is gone makes the sink unavailable")
            return
        }
        for _ in 0..<3 { _ = try await sink.checkAvailability() }  // refused: still away
        #expect(told.count == 0, "nothing is said while the broker is away")
        try await onOwnThread { try broker.broker.start() }
        try await eventually("the sink says the broker is back", timeout: .seconds(15)) { told.count >= 1 }
        #expect(try await sink.checkAvailability() == .available)
        #expect(await publishWaitingOutOutages(sink, [stored(2, key: "a")]) == [.published])
    }

    @Test func aBrokerOutageIsRetriedUntilEveryMessageArrives() async throws {
        let broker = try await onOwnThread { try MosquittoBroker() }
        let topic = uniqueTopic("outage")
        let probe = try await onOwnThread {
            try MQTTProbe(url: broker.url, filter: topic.replacingOccurrences(of: "{type}", with: "+"), persistentSession: true)
        }
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let relay = OutboxRelay(path: dir, sink: try sink(broker.url, topic: topic, timeout: .milliseconds(500)),
                                configuration: brokerRelayConfiguration(), outbox: outbox, logger: quietLogger)
        let task = Task { try await relay.run() }
        for i in 1...100 { try await outbox.append(OutboxMessage(type: "E", key: "k\(i % 5)", payload: Array("\(i)".utf8))) }
        try await eventually("the first 100 published") { try OutboxReader(path: dir).stats().pending == 0 }
        try await onOwnThread { broker.broker.kill() }
        for i in 101...200 { try await outbox.append(OutboxMessage(type: "E", key: "k\(i % 5)", payload: Array("\(i)".utf8))) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(try OutboxReader(path: dir).stats().pending > 0, "nothing is tombstoned while the broker is down")
        try await onOwnThread { try broker.broker.start() }
        try await eventually("everything published after the broker came back", timeout: .seconds(30)) {
            try OutboxReader(path: dir).stats().pending == 0
        }
        try await eventually("the subscriber has every message", timeout: .seconds(30)) {
            Set(probe.received.compactMap(\.seq)) == Set(1...200)
        }
        task.cancel()
        try await task.value
        try await outbox.close()
        #expect(perKeyOrderHolds(probe.received.map { r in (r.seq.map { "k\($0 % 5)" }, r.seq ?? 0) }))
    }

    @Test func aBrokerThatWantsAPasswordGetsTheOneInTheURL() async throws {
        let files = TemporaryDirectory("outbox-mqtt-auth")
        let broker = try await onOwnThread {
            try MosquittoBroker(settings: ["allow_anonymous false", "password_file \(try MosquittoBroker.passwordFile("relay", "s3cret", in: files))"])
        }
        let port = broker.broker.port
        let good = try sink("mqtt://relay:s3cret@127.0.0.1:\(port)", topic: uniqueTopic("auth"))
        #expect(await publishWaitingOutOutages(good, [stored(1, key: "a")]) == [.published])
        let bad = try sink("mqtt://relay:wrong@127.0.0.1:\(port)", topic: uniqueTopic("auth"))
        await #expect(throws: OutboxError.self) { try await bad.connect() }
        #expect(!bad.displayName.contains("wrong") && bad.displayName.contains("relay@"), "\(bad.displayName)")
        // The tool's startup check: bad credentials are one line and exit 1, with no password in it.
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "1"]).status == 0)
        let r = try await runProgram(try outboxExecutable(), ["relay", dir, "--sink", "mqtt://relay:wrong@127.0.0.1:\(port)"],
                                     environment: ["OUTBOX_LOG_LEVEL": "trace"])
        #expect(r.status == 78, "a configuration the broker refuses: EX_CONFIG: \(r.stderr)")
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("outbox: error [invalid-argument]:") }
        #expect(errors.count == 1 && errors[0].contains("refused the connection"), "\(r.stderr)")
        #expect(!r.stderr.contains("wrong"), "no password in any line: \(r.stderr)")
    }

    @Test func tlsWithTheBrokersCertificateAuthority() async throws {
        let certificates = try await onOwnThread { try TestCertificates() }
        let broker = try await onOwnThread {
            try MosquittoBroker(settings: ["certfile \(certificates.serverCertificate)", "keyfile \(certificates.serverKey)"])
        }
        let port = broker.broker.port
        let trusted = try sink("mqtts://127.0.0.1:\(port)?ca=\(certificates.caFile)", topic: uniqueTopic("tls"))
        #expect(await publishWaitingOutOutages(trusted, [stored(1, key: "a"), stored(2, key: nil)]) == [.published, .published])
        let untrusted = try sink("mqtts://127.0.0.1:\(port)", topic: uniqueTopic("tls"))
        await #expect(throws: OutboxError.self, "the system's authorities do not know the test CA") { try await untrusted.connect() }
    }

    @Test func theSinkSpecOfTheToolParses() throws {
        let c = try MQTTSinkConfiguration(parsing: "mqtt://broker.local:8883?topic=orders/{key}&qos=2&client-id=edge-7")
        #expect(c.host == "broker.local" && c.port == 8883 && c.qos == 2 && c.clientID == "edge-7")
        #expect(c.coveringFilter == "orders/+")
        #expect(c.topic(for: stored(1, key: "a/b#c")) == "orders/a_b_c")
        #expect(try MQTTSinkConfiguration(parsing: "mqtt://h").port == 1883)
        #expect(throws: OutboxError.self) { try MQTTSinkConfiguration(parsing: "mqtt://h:1?qos=0") }
        #expect(throws: OutboxError.self) { try MQTTSinkConfiguration(parsing: "mqtt://h:99999") }
        #expect(throws: OutboxError.self) { try MQTTSinkConfiguration(parsing: "nats://h:1") }
        let secure = try MQTTSinkConfiguration(parsing: "mqtts://edge:p%40ss@broker.local?ca=/etc/ca.pem")
        #expect(secure.port == 8883 && secure.username == "edge" && secure.password == "p@ss" && secure.tls == TLSFiles(caFile: "/etc/ca.pem"))
        #expect(try MQTTSinkConfiguration(parsing: "mqtt://h").tls == nil)
    }
}
