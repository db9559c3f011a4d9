import Foundation
import Testing
@testable import Outbox

@Suite("Routes")
struct RouteTests {
    private func message(_ n: Int, type: String, key: String? = nil, headers: [OutboxMessage.Header] = []) -> OutboxMessage {
        OutboxMessage(type: type, key: key, headers: headers, payload: Array("\(n)".utf8))
    }

    private func config() -> OutboxRelayConfiguration {
        var c = relayConfiguration()
        c.maxOutageBackoff = .milliseconds(50)
        return c
    }

    /// One route's sink down stops no other: the other route publishes everything it takes while the
    /// outbox keeps what the down route has not published; once it is back, every route has what it
    /// takes, in per-key order, and the outbox is finished with every message.
    @Test func aRouteWhoseSinkIsDownStopsNoOtherAndTheOutboxFinishesWhenEveryRouteIsDone() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 4 << 10), logger: quietLogger)
        let down = Shared(true)
        let alarms = RecordingSink()
        let everything = RecordingSink { _, _ in down.get() ? .unavailable("broker away") : .published }
        let relay = OutboxRelay(path: dir, routes: [OutboxRoute(name: "alarms", match: .type("Alarm*"), sink: alarms),
                                                     OutboxRoute(name: "all", sink: everything)],
                                configuration: config(), outbox: outbox, logger: quietLogger)
        var alarmCount = 0
        try await running(relay) {
            for i in 0..<600 {
                let isAlarm = i % 3 == 0
                if isAlarm { alarmCount += 1 }
                try await outbox.append(message(i, type: isAlarm ? "AlarmRaised" : "Telemetry", key: "k\(i % 7)"))
            }
            try await eventually("every alarm published while the other sink is down") { alarms.published.count >= alarmCount }
            #expect(everything.published.isEmpty)
            #expect(try OutboxReader(path: dir).stats().pending == 600, "nothing is finished for the outbox while a route that takes it is not")
            #expect(relay.status == .active(sinkReachable: false), "one route's sink away: the relay's status says so (\(relay.status))")
            down.set(false)
            try await eventually("the other route publishes everything") { everything.published.count >= 600 }
            try await eventually("the relay's status follows") { relay.status == .active(sinkReachable: true) }
            try await eventually("the outbox is finished with every message") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        #expect(alarms.published.count == alarmCount && alarms.published.allSatisfy { $0.message.type == "AlarmRaised" })
        #expect(Set(everything.published.map(\.seq)) == Set(1...600))
        #expect(perKeyOrderHolds(alarms.published.map { ($0.message.key, $0.seq) }))
        #expect(perKeyOrderHolds(everything.published.map { ($0.message.key, $0.seq) }))
        let t = try OutboxReader(path: dir).tombstones()
        #expect(t.published.ranges == [1...600])
        #expect(t.routes["alarms"] != nil && t.routes["all"] != nil)
        try await outbox.close()
    }

    /// A message no route takes is never dropped silently: it is tombstoned as unrouted and counted.
    @Test func aMessageNoRouteTakesIsTombstonedAsUnrouted() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let alarms = RecordingSink(), audit = RecordingSink()
        let relay = OutboxRelay(path: dir, routes: [OutboxRoute(name: "alarms", match: .type("Alarm*"), sink: alarms),
                                                     OutboxRoute(name: "audit", match: .header("audit", equals: "yes"), sink: audit)],
                                configuration: config(), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            try await outbox.append(message(1, type: "AlarmRaised"))
            try await outbox.append(message(2, type: "Telemetry"))
            try await outbox.append(message(3, type: "Telemetry", headers: [.init("audit", "yes")]))
            try await outbox.append(message(4, type: "AlarmCleared", headers: [.init("audit", "yes")]))
            try await eventually("every message finished") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        #expect(alarms.published.map(\.seq) == [1, 4] && audit.published.map(\.seq) == [3, 4])
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.unrouted == 1 && stats.published == 3)
        #expect(try OutboxReader(path: dir).tombstones().status(of: 2) == .unrouted)
        let dump = try await runOutbox(["dump", dir, "--status", "unrouted", "--json"])
        #expect(dump.status == 0 && dump.stdout.split(separator: "\n").count == 1 && dump.stdout.contains("\"seq\":2"), "\(dump.stdout)")
        try await outbox.close()
    }

    /// A route added to an outbox with a backlog serves every pending message (or, from now, only what
    /// comes next); a route removed with messages pending for it lets them go: what no remaining route
    /// takes is unrouted, and the outbox compacts.
    @Test func addingAndRemovingRoutesOfAnOutboxWithABacklog() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 2 << 10), logger: quietLogger)
        for i in 1...50 { try await outbox.append(message(i, type: i % 2 == 0 ? "Even" : "Odd")) }
        // Today's relay of one sink publishes the first 50.
        let first = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: first, configuration: config(), outbox: outbox, logger: quietLogger)) {
            try await eventually("50 published") { first.published.count >= 50 }
        }
        for i in 51...80 { try await outbox.append(message(i, type: i % 2 == 0 ? "Even" : "Odd")) }
        // Two routes now: "even" is new and serves the pending backlog; "late" starts from now.
        let even = RecordingSink(), late = RecordingSink()
        let down = Shared(true)
        let odd = RecordingSink { _, _ in down.get() ? .unavailable("away") : .published }
        let routes = [OutboxRoute(name: "even", match: .type("Even"), sink: even), OutboxRoute(name: "odd", match: .type("Odd"), sink: odd),
                      OutboxRoute(name: "late", sink: late, startsFromNow: true)]
        try await running(OutboxRelay(path: dir, routes: routes, configuration: config(), outbox: outbox, logger: quietLogger)) {
            try await eventually("the backlog's even messages published") { even.published.count >= 15 }
            try await outbox.append(message(81, type: "Odd"))
            try await eventually("the new route takes what comes from now") { late.published.count >= 1 }
        }
        #expect(Set(even.published.map(\.seq)) == Set(stride(from: 52, through: 80, by: 2)), "only the pending backlog")
        #expect(late.published.map(\.seq) == [81])
        #expect(odd.published.isEmpty)
        #expect(try OutboxReader(path: dir).stats().pending == 16, "the odd ones wait for their route")
        // The "odd" route is removed: what only it took is let go (unrouted), and nothing is pending.
        try await running(OutboxRelay(path: dir, routes: [routes[0], routes[2]], configuration: config(), outbox: outbox, logger: quietLogger)) {
            try await eventually("nothing pending once the odd route is gone") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        let t = try OutboxReader(path: dir).tombstones()
        #expect(t.status(of: 53) == .unrouted && t.status(of: 81) == .published && t.routes["odd"] == nil)
        let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
        try await log.compact(forceCheckpoint: true)
        try await log.close()
        #expect(try segmentNames(dir).count == 1, "every sealed segment compacted")
        #expect(try OutboxInspector.verify(path: dir).problems.filter { $0.kind != .leftoverFile }.isEmpty)
        try await outbox.close()
    }

    /// A route that gives up on a message dead-letters it with its name: the other route is not held
    /// back, the letter says which route, `dead-letters list --route` shows it, and a redrive republishes
    /// it on that route.
    @Test func deadLettersNameTheirRouteAndAreRedrivenThere() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let refusing = Shared(true)
        let strict = RecordingSink { m, _ in refusing.get() && m.message.type == "Bad" ? .rejected("schema") : .published }
        let lenient = RecordingSink()
        let routes = [OutboxRoute(name: "strict", sink: strict), OutboxRoute(name: "lenient", sink: lenient)]
        let relay = OutboxRelay(path: dir, routes: routes, configuration: config(), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            for i in 1...6 { try await outbox.append(message(i, type: i == 3 ? "Bad" : "Good")) }
            try await eventually("everything finished") { try OutboxReader(path: dir).stats().pending == 0 }
            let letters = try OutboxReader(path: dir).deadLetters()
            #expect(letters.count == 1 && letters[0].seq == 3 && letters[0].route == "strict", "\(letters)")
            #expect(lenient.published.map(\.seq) == [1, 2, 3, 4, 5, 6], "the other route is not held back")
            #expect(try OutboxReader(path: dir).tombstones().status(of: 3) == .dead, "dead on one route: dead for the outbox")
            let list = try await runOutbox(["dead-letters", dir, "list", "--route", "strict", "--json"])
            #expect(list.stdout.contains("\"route\":\"strict\"") && list.stdout.split(separator: "\n").count == 1, "\(list.stdout)")
            #expect(try await runOutbox(["dead-letters", dir, "list", "--route", "lenient"]).stdout.isEmpty)
            refusing.set(false)
            #expect(try OutboxReader(path: dir).requestRedrive(route: "strict") == [3])
            try await eventually("redriven on its route") { strict.published.contains { $0.seq == 3 } }
        }
        #expect(lenient.published.filter { $0.seq == 3 }.count == 1, "republished on its own route only")
        let perRoute = try await runOutbox(["dump", dir, "--route", "lenient", "--status", "published", "--json"])
        #expect(perRoute.status == 0 && perRoute.stdout.split(separator: "\n").count == 6, "\(perRoute.stdout)")
        try await outbox.close()
    }

    /// Two routes give up on the same message: a redrive asked of one route is that route's alone (its
    /// request and its redriven mark name it, FORMAT.md §5a); the other's letter stays dead, unasked, until
    /// a redrive of its own.
    @Test func aRedriveOfOneRouteLeavesAnotherRoutesLetterOfTheSameMessage() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let refusing = Shared(true)
        func refuser() -> RecordingSink { RecordingSink { m, _ in refusing.get() && m.message.type == "Bad" ? .rejected("schema") : .published } }
        let (a, b) = (refuser(), refuser())
        let relay = OutboxRelay(path: dir, routes: [OutboxRoute(name: "a", sink: a), OutboxRoute(name: "b", sink: b)],
                                configuration: config(), outbox: outbox, logger: quietLogger)
        func letters() throws -> [String: DeadLetter] {
            Dictionary(try OutboxReader(path: dir).deadLetters().map { ($0.route ?? "", $0) }) { x, _ in x }
        }
        try await running(relay) {
            for i in 1...4 { try await outbox.append(message(i, type: i == 2 ? "Bad" : "Good")) }
            try await eventually("both routes gave up on 2") { try letters().count == 2 && OutboxReader(path: dir).stats().pending == 0 }
            refusing.set(false)
            #expect(try OutboxReader(path: dir).requestRedrive(route: "a") == [2])
            #expect(try letters()["b"]?.redriveRequested == false, "a request of route a is not route b's")
            try await eventually("route a republished 2 and marked its letter") { try a.published.contains { $0.seq == 2 } && letters()["a"]?.redriven == true }
            // Route b has looked at the dead-letter file since the request by the time it publishes a message
            // appended after it (one directory watch reports both, in order).
            try await outbox.append(message(5, type: "Good"))
            try await eventually("route b published 5") { b.published.contains { $0.seq == 5 } }
            #expect(!b.published.contains { $0.seq == 2 }, "route b did not republish it")
            #expect(try letters()["b"].map { !$0.redriven && !$0.redriveRequested } == true, "route b's letter stays as it was")
            #expect(try OutboxReader(path: dir).requestRedrive(route: "b") == [2])
            try await eventually("route b republished it on its own request") { try b.published.contains { $0.seq == 2 } && letters()["b"]?.redriven == true }
        }
        #expect(a.published.filter { $0.seq == 2 }.count == 1 && b.published.filter { $0.seq == 2 }.count == 1)
        #expect(try OutboxInspector.verify(path: dir).isClean)
        try await outbox.close()
    }

    /// A message is stored once, whatever the number of routes: the outbox's bytes on disk peak within
    /// 10% of the same drain with one route, and once every route finished, it compacts to one segment.
    @Test func threeRoutesStoreEachMessageOnce() async throws {
        func drain(routes count: Int) async throws -> (peak: Int64, segmentsAfter: Int) {
            let tmp = TemporaryDirectory()
            let dir = tmp.sub("ob")
            let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 64 << 10), logger: quietLogger)
            for i in stride(from: 0, to: 6000, by: 100) {
                try await outbox.append(contentsOf: (i..<(i + 100)).map { message($0, type: $0 % 2 == 0 ? "Even" : "Odd", key: "k\($0 % 9)") })
            }
            let sinks = (0..<count).map { _ in RecordingSink() }
            let routes = sinks.enumerated().map { OutboxRoute(name: "r\($0.offset)", match: $0.offset == 1 ? .type("Even") : .all, sink: $0.element) }
            let peak = Shared<Int64>(0)
            let watching = Task {
                while !Task.isCancelled {
                    if let used = try? OutboxReader(path: dir).stats().usedBytes { peak.mutate { $0 = max($0, used) } }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            }
            try await running(OutboxRelay(path: dir, routes: routes, configuration: config(), outbox: outbox, logger: quietLogger)) {
                try await eventually("every route done") { try OutboxReader(path: dir).stats().pending == 0 }
            }
            watching.cancel()
            _ = await watching.value
            let log = try await TombstoneLog.open(at: dir, logger: quietLogger)
            try await log.compact(forceCheckpoint: true)
            try await log.close()
            try await outbox.close()
            return (peak.get(), try segmentNames(dir).count)
        }
        let one = try await drain(routes: 1)
        let three = try await drain(routes: 3)
        print("[threeRoutesStoreEachMessageOnce] peak bytes on disk: one route \(one.peak), three routes \(three.peak)")
        #expect(Double(three.peak) <= Double(one.peak) * 1.1, "three routes peak at \(three.peak) bytes, one at \(one.peak)")
        #expect(one.segmentsAfter == 1 && three.segmentsAfter == 1, "compacted to one segment: \(one.segmentsAfter), \(three.segmentsAfter)")
    }

    /// Routes that cannot work are refused by `run()`, naming what is wrong.
    @Test func routesThatCannotWorkAreRefused() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        _ = try await Outbox.open(at: dir, logger: quietLogger)
        for (routes, expected) in [([OutboxRoute](), "at least one route"),
                                   ([OutboxRoute(name: "a b", sink: RecordingSink())], "a route name"),
                                   ([OutboxRoute(name: "a", sink: RecordingSink()), OutboxRoute(name: "a", sink: RecordingSink())], "named twice")] {
            let relay = OutboxRelay(path: dir, routes: routes, configuration: config(), logger: quietLogger)
            await #expect { try await relay.run() } throws: { e in
                (e as? OutboxError)?.code == .invalidArgument && "\(e)".contains(expected)
            }
        }
    }

    @Test func globsMatchAsAShellDoes() {
        #expect(RouteMatch.glob("Alarm*", matches: "AlarmRaised") && RouteMatch.glob("*", matches: ""))
        #expect(RouteMatch.glob("a?c", matches: "abc") && !RouteMatch.glob("a?c", matches: "ac"))
        #expect(RouteMatch.glob("*.v2", matches: "order.created.v2") && !RouteMatch.glob("*.v2", matches: "order.v3"))
        #expect(RouteMatch.glob("a*b*c", matches: "aXbYbZc") && !RouteMatch.glob("a*b*c", matches: "aXbY"))
        #expect(RouteMatch([.type("A*"), .key("k1")]).matches(OutboxMessage(type: "Ax", key: "k1", payload: [])))
        #expect(!RouteMatch([.type("A*"), .key("k1")]).matches(OutboxMessage(type: "Ax", payload: [])))
    }
}

@Suite("Routes from the relay's --config file")
struct RouteConfigTests {
    /// `outbox relay DIR --config FILE` with a `routes` array: each file sink gets what its match takes,
    /// a message no route takes is unrouted, and a bad route is one line naming the file and the route,
    /// exit 78.
    @Test func theRelayPublishesToEveryRouteOfItsConfigFile() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "4", "--type", "AlarmRaised"]).status == 0)
        #expect(try await runOutbox(["append", dir, "--count", "3", "--type", "Telemetry", "--header", "audit=yes"]).status == 0)
        #expect(try await runOutbox(["append", dir, "--count", "2", "--type", "Telemetry"]).status == 0)
        let (cloud, audit) = (tmp.sub("cloud.jsonl"), tmp.sub("audit.jsonl"))
        let config = tmp.sub("relay.json")
        try """
            {"min-age": 0, "routes": [{"name": "cloud", "sink": "file:\(cloud)", "match": {"type": "Alarm*"}},
                                      {"name": "audit", "sink": "file:\(audit)", "match": {"header": "audit=yes"}, "batch": 2}]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--config", config]
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        func lines(_ path: String) -> Int { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count }
        try await eventually("both routes published") { lines(cloud) == 4 && lines(audit) == 3 }
        try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
        // The status of every route, while the relay runs.
        try await eventually("both routes in the relay's status") { try OutboxReader(path: dir).stats().routes.map(\.name) == ["audit", "cloud"] }
        let cloudStatus = try await runOutbox(["stats", dir, "--route", "cloud", "--json"])
        #expect(cloudStatus.status == 0 && cloudStatus.stdout.contains("\"name\":\"cloud\"") && cloudStatus.stdout.contains("\"sinkReachable\":true"),
                "\(cloudStatus.stdout)")
        let unknown = try await runOutbox(["stats", dir, "--route", "nope"])
        #expect(unknown.status != 0 && unknown.stderr.contains("audit, cloud"), "\(unknown.stderr)")
        let check = try await runOutbox(["check", dir, "--route", "audit"])
        #expect(check.status == 0 && check.stdout.hasPrefix("OUTBOX OK"), "\(check.stdout)")
        let checkUnknown = try await runOutbox(["check", dir, "--route", "nope"])
        #expect(checkUnknown.status == 3 && checkUnknown.stdout.contains("no route nope"), "\(checkUnknown.stdout)")
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationStatus == 0)
        let stats = try await runOutbox(["stats", dir, "--json"])
        #expect(stats.stdout.contains("\"unrouted\":2") && stats.stdout.contains("\"published\":7"), "\(stats.stdout)")

        for (file, expected) in [(#"{"routes": [{"name": "a", "sink": "stdout", "match": {"colour": "red"}}]}"#, "match takes type, key and header"),
                                 (#"{"routes": [{"sink": "stdout"}]}"#, "needs a \"name\""),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "batch": 0}]}"#, "\"batch\" must be at least 1"),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "max-bytes-per-second": 0}]}"#, "\"max-bytes-per-second\" must be at least 1"),
                                 (#"{"routes": [{"name": "a", "sink": "ftp://x"}]}"#, "route a"),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "lanes": "critical=0,bulk=1"}]}"#, "gives lane critical a weight of 0"),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "lanes": 5}]}"#, "\"lanes\" must be a string"),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "when-budget-spent": "maybe"}]}"#, "\"hold\" or \"critical-only\""),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "live-within": 0}]}"#, "\"live-within\""),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "live-within": 60, "live-share": 1}]}"#, "\"live-share\" must be more than 0 and less than 1"),
                                 (#"{"routes": [{"name": "a", "sink": "stdout", "live-within": 60, "strict-order": true}]}"#, "cannot be used with strict order"),
                                 (#"{"routes": []}"#, "one or more routes")] {
            try file.write(toFile: config, atomically: true, encoding: .utf8)
            let bad = try await runOutbox(["relay", dir, "--config", config])
            #expect(bad.status == 78 && bad.stderr.contains(config) && bad.stderr.contains(expected), "\(file): \(bad.stderr)")
            #expect(bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
        }
        try #"{"routes": [{"name": "a", "sink": "stdout"}]}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let both = try await runOutbox(["relay", dir, "--config", config, "--sink", "stdout"])
        #expect(both.status == 64 && both.stderr.contains("not both"), "\(both.stderr)")
    }
}

extension RouteConfigTests {
    /// Each route's own backlog and sink, as `stats`, `check` and `/healthz` show them: a route whose
    /// broker is away holds its 4 messages while the other has published its 3.
    @Test func statsCheckAndHealthzShowEachRoutesPendingAndSink() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "4", "--type", "AlarmRaised"]).status == 0)
        #expect(try await runOutbox(["append", dir, "--count", "3", "--type", "Telemetry"]).status == 0)
        let (up, config) = (tmp.sub("up.jsonl"), tmp.sub("relay.json"))
        let (nobody, port) = (try freeLoopbackPort(), try freeLoopbackPort())
        try """
            {"min-age": 0, "routes": [{"name": "up", "sink": "file:\(up)", "match": {"type": "Telemetry"}},
                                      {"name": "down", "sink": "mqtt://127.0.0.1:\(nobody)?topic=t", "match": {"type": "Alarm*"}}]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--config", config, "--metrics", "127.0.0.1:\(port)", "--unhealthy-after", "3"]
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        try await eventually("the route that is up published its 3") {
            ((try? String(contentsOfFile: up, encoding: .utf8)) ?? "").split(separator: "\n").count == 3
        }
        try await eventually("the relay's status says the other's sink is away") {
            try OutboxReader(path: dir).stats().routes.first { $0.name == "down" }?.sinkReachable == false
        }
        let down = try await runOutbox(["stats", dir, "--route", "down", "--json"])
        #expect(down.stdout.contains("\"pending\":4") && down.stdout.contains("\"oldestPendingSeq\":1"), "\(down.stdout)")
        let upStats = try await runOutbox(["stats", dir, "--route", "up", "--json"])
        #expect(upStats.stdout.contains("\"pending\":0") && upStats.stdout.contains("\"oldestPendingSeq\":null"), "\(upStats.stdout)")
        let text = try await runOutbox(["stats", dir])
        #expect(text.stdout.contains("route down:") && text.stdout.contains("4 pending, oldest") && text.stdout.contains("0 pending, oldest -"),
                "\(text.stdout)")
        let check = try await runOutbox(["check", dir])
        #expect(check.status == 1 && check.stdout.contains("route down: sink unreachable for") && !check.stdout.contains("route up: sink"),
                "\(check.stdout)")
        let checkUp = try await runOutbox(["check", dir, "--route", "up"])
        #expect(checkUp.status == 0 && checkUp.stdout.contains("route up: 0 pending"), "\(checkUp.stdout)")
        let checkDown = try await runOutbox(["check", dir, "--route", "down", "--max-pending", "3"])
        #expect(checkDown.status == 2 && checkDown.stdout.contains("4 pending > 3") && checkDown.stdout.contains("pending=4;"), "\(checkDown.stdout)")
        // /healthz judges the route that is away by its own oldest message: healthy (unless the machine is so
        // loaded that 3 s went by already), then not once its messages are older than 3 s.
        let base = "http://127.0.0.1:\(port)"
        let early = try await httpGet(base + "/healthz")
        #expect(early.body.contains("route down: sink unreachable, oldest pending") && (early.status == 200) == early.body.hasPrefix("ok: "),
                "\(early)")
        try await eventually("unhealthy once the held messages are older than 3 s", timeout: .seconds(20)) {
            (try? await httpGet(base + "/healthz"))?.status == 503
        }
        let late = try await httpGet(base + "/healthz")
        #expect(late.body.contains("route down: sink unreachable") && late.body.contains("more than 3 s") && !late.body.contains("route up"), "\(late)")
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
    }
}

@Suite("Routes through SIGKILL", .serialized)
struct RouteKillTests {
    private func lines(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// Two routes (one taking half the messages, one taking all) and a relay killed three times mid-run,
    /// sweeping (so compacting) every 20 ms: no message is lost on either route, a message reaches a
    /// route at least once, per-key order holds per route, and every message ends finished for the outbox.
    @Test func killingARelayOfTwoRoutesLosesNothingOnEitherRoute() async throws {
        let seed = testSeed("killingARelayOfTwoRoutes")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let total = 4000
        for type in ["Alpha", "Beta"] {
            let r = try await runOutbox(["append", dir, "--count", "\(total / 2)", "--type", type, "--keys", "13", "--segment-size", "32768",
                                         "--concurrency", "4"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let (alpha, all) = (tmp.sub("alpha.jsonl"), tmp.sub("all.jsonl"))
        let config = tmp.sub("relay.json")
        try """
            {"min-age": 0, "sweep-interval": 0.02, "batch": 50,
             "routes": [{"name": "alpha", "sink": "file:\(alpha)", "match": {"type": "Alpha"}}, {"name": "all", "sink": "file:\(all)"}]}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        func start() throws -> ChildProcess {
            let p = ChildProcess()
            p.executableURL = try outboxExecutable()
            p.arguments = ["relay", dir, "--config", config]
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        for round in 0..<3 {
            let target = lines(all).count + Int.random(in: 100...600, using: &g)
            let relay = try start()
            // (Or until everything is published: copies republished after a kill count as lines too, so the
            // target may lie beyond the last line.)
            try await eventually("round \(round): past \(target) on the route that takes all", timeout: .seconds(60)) {
                try !relay.isRunning || lines(all).count >= target || OutboxReader(path: dir).stats().pending == 0
            }
            #expect(relay.isRunning, "seed \(seed), round \(round): the relay exited on its own")
            kill(relay.processIdentifier, SIGKILL)
            try await onOwnThread { relay.waitUntilExit() }
        }
        let last = try start()
        defer { if last.isRunning { last.terminate(); last.waitUntilExit() } }
        try await eventually("every message finished", timeout: .seconds(60)) { try OutboxReader(path: dir).stats().pending == 0 }
        let stored = try OutboxReader(path: dir).stats()
        #expect(stored.published == UInt64(total) && stored.unrouted == 0, "seed \(seed): \(stored)")
        let (a, b) = (lines(alpha), lines(all))
        let alphaSeqs = a.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }
        let allSeqs = b.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }
        #expect(Set(allSeqs) == Set(1...UInt64(total)), "seed \(seed): every message reached the route that takes all")
        #expect(Set(alphaSeqs).count == total / 2 && a.allSatisfy { $0["type"] as? String == "Alpha" }, "seed \(seed): every Alpha, only Alpha")
        #expect(perKeyOrderHolds(zip(a.map { $0["key"] as? String }, alphaSeqs).map { ($0, $1) }), "seed \(seed): order per key on alpha")
        #expect(perKeyOrderHolds(zip(b.map { $0["key"] as? String }, allSeqs).map { ($0, $1) }), "seed \(seed): order per key on all")
        #expect(try OutboxInspector.verify(path: dir).isClean, "seed \(seed)")
        print("[killingARelayOfTwoRoutes] seed \(seed): 3 kills, \(a.count) records on alpha, \(b.count) on all for \(total) messages")
    }
}
