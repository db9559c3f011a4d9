import Foundation
import Outbox
import OutboxBrokerTestSupport
import Testing

/// Issue 11's done-when: a relay started with `--metrics` answers `/metrics` and `/healthz` while it
/// publishes to NATS; the server stopped turns `/healthz` to 503 within the threshold, and its restart
/// turns it back to 200. `/metrics` is read by prometheus-client's parser (PyPI), and its values are
/// checked against `outbox stats`.
@Suite("outbox relay --metrics")
struct NATSEndpointsTests {
    @Test func metricsAndHealthzFollowTheRelayThroughAnOutage() async throws {
        guard try await parserAvailable() else {
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                Issue.record("prometheus-client is required under CI=true: scripts/test installs it (OUTBOX_KAFKA_PYTHONPATH)")
            } else {
                print("[metrics] skipped: prometheus-client is not installed (run through scripts/test)")
            }
            return
        }
        let server = try await onOwnThread { try NATSServer() }
        let names = uniqueStream("endpoints")
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "200", "--keys", "7"]).status == 0)
        let port = try freeLoopbackPort()
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", "\(server.url)?stream=\(names.stream)&subject=\(names.subject)",
                           "--metrics", "127.0.0.1:\(port)", "--unhealthy-after", "2", "--max-outage-backoff", "0.5",
                           "--sweep-interval", "3600", "--min-age", "0"]
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        let base = "http://127.0.0.1:\(port)"
        try await eventually("healthy", timeout: .seconds(20)) { (try? await httpGet(base + "/healthz"))?.status == 200 }
        try await eventually("all published", timeout: .seconds(20)) { try OutboxReader(path: dir).stats().pending == 0 }

        // /metrics, parsed by an independent parser, agrees with stats (the gauges follow the outbox within
        // seconds, without waiting for a sweep: issue 25, item 4).
        try await eventually("the gauges follow the outbox", timeout: .seconds(10)) {
            let p = try await samples(base)
            return p.contains { $0.name == "outbox_disk_bytes" && $0.value > 0 }
                && p.contains { $0.name == "outbox_pending_messages" && $0.labels["outbox"] == dir && $0.value == 0 }
        }
        let stats = try OutboxReader(path: dir).stats()
        let parsed = try await samples(base)
        func value(_ name: String) -> Double? { parsed.first { $0.name == name && $0.labels["outbox"] == dir }?.value }
        #expect(value("outbox_published_total") == Double(stats.published), "\(parsed.map(\.name))")
        #expect(value("outbox_pending_messages") == Double(stats.pending))
        #expect(value("outbox_dead_lettered_total") == Double(stats.dead))
        #expect(value("outbox_sink_available") == 1)
        #expect((value("outbox_last_publish_timestamp_seconds") ?? 0) > Date().timeIntervalSince1970 - 60)
        #expect(parsed.contains { $0.name == "outbox_publish_duration_seconds_count" && $0.value >= 1 })

        // The server goes away and messages wait: 503 once the oldest is older than 2 s.
        try await onOwnThread { server.broker.kill() }
        #expect(try await runOutbox(["append", dir, "--count", "10", "--keys", "7"]).status == 0)
        let down = ContinuousClock.now
        try await eventually("unhealthy", timeout: .seconds(20)) { (try? await httpGet(base + "/healthz"))?.status == 503 }
        let turned = ContinuousClock.now - down
        #expect(turned < .seconds(10), "503 within the threshold and a probe (took \(turned))")
        let unhealthy = try await httpGet(base + "/healthz")
        #expect(unhealthy.body.contains("sink unreachable"), "\(unhealthy.body)")
        try await eventually("the outage shows in /metrics") {
            try await samples(base).contains { $0.name == "outbox_sink_available" && $0.value == 0 }
        }
        // During the outage the gauges count what waits (not what one failed publish held) and its age.
        try await eventually("the gauges follow the waiting messages", timeout: .seconds(10)) {
            let p = try await samples(base)
            func gauge(_ name: String) -> Double? { p.first { $0.name == name && $0.labels["outbox"] == dir }?.value }
            return gauge("outbox_pending_messages") == 10 && (gauge("outbox_oldest_pending_age_seconds") ?? 0) >= 2
        }

        try await onOwnThread { try server.broker.start() }
        try await eventually("healthy again", timeout: .seconds(40)) { (try? await httpGet(base + "/healthz"))?.status == 200 }
        try await eventually("all published after the outage", timeout: .seconds(30)) { try OutboxReader(path: dir).stats().pending == 0 }
        #expect(try await httpGet(base + "/nope").status == 404)
        #expect(try await httpGet(base + "/metrics", method: "POST").status == 405, "a known path, another method: 405, not 404")
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationStatus == 0)
    }

    struct Sample { var name: String; var labels: [String: String]; var value: Double }

    /// Whether Python can import prometheus-client (from `OUTBOX_KAFKA_PYTHONPATH`, where scripts/test puts it).
    private func parserAvailable() async throws -> Bool {
        let pythonPath = ProcessInfo.processInfo.environment["OUTBOX_KAFKA_PYTHONPATH"] ?? ""
        return try await runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import prometheus_client"],
                                    environment: ["PYTHONPATH": pythonPath]).status == 0
    }

    /// `/metrics` through `scripts/prometheus-parse.py` (prometheus-client's parser).
    private func samples(_ base: String) async throws -> [Sample] {
        let text = try await httpGet(base + "/metrics")
        #expect(text.status == 200)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/prometheus-parse.py").standardized
        let input = TemporaryDirectory()
        try text.body.write(toFile: input.sub("metrics.txt"), atomically: true, encoding: .utf8)
        let pythonPath = ProcessInfo.processInfo.environment["OUTBOX_KAFKA_PYTHONPATH"] ?? ""
        let r = try await runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", "PYTHONPATH=\"$2\" python3 \"$0\" < \"$1\"", script.path, input.sub("metrics.txt"), pythonPath])
        guard r.status == 0 else { throw OutboxError(.invalidArgument, "the Prometheus text did not parse: \(r.stderr)") }
        return r.stdout.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let name = o["name"] as? String,
                  let value = o["value"] as? Double else { return nil }
            return Sample(name: name, labels: o["labels"] as? [String: String] ?? [:], value: value)
        }
    }
}
