import Foundation
import Testing
@testable import Outbox

@Suite("Simulated power loss", .serialized)
struct PowerLossTests {
    /// Runs a workload of appends (single and atomic multi-message), segment rolls, acknowledgements,
    /// compactions and checkpoints through a recording seam; then rebuilds every state a power loss after
    /// each operation could leave and checks recovery against what was acknowledged.
    @Test func everyCrashStateRecoversWithNothingAcknowledgedLost() async throws {
        let seed = testSeed("everyCrashStateRecovers")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let recorder = RecordingCalls()
        var config = configuration(segmentSize: 900, sys: recorder)
        config.maxRecordSize = 4096
        // Half the runs have a disk budget small enough that drop-oldest drops segments as it goes.
        let dropping = Bool.random(using: &g)
        if dropping {
            config.maxDiskBytes = (64 << 10) + 5000
            config.onFull = .dropOldest
        }
        print("[everyCrashStateRecovers] \(dropping ? "with a disk budget and drop-oldest" : "no disk budget")")
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        var submitted: [MessageID: OutboxMessage] = [:]
        func message(_ n: Int) -> OutboxMessage {
            var m = sampleMessage(n, key: "k\(n % 3)", payloadSize: Int.random(in: 0...120, using: &g))
            // Lanes too (FORMAT.md §4b): a commit of several lanes is one kind-14 frame.
            m.lane = [.normal, .normal, .critical, .bulk, "camera-1"][Int.random(in: 0..<5, using: &g)]
            submitted[m.id] = m
            return m
        }
        let first = try await outbox.append(message(0))
        recorder.note(.acknowledgedAppend(first...first, []))
        let tombstones = try TombstoneLog(openingAt: dir, checkpointBytes: 200, logger: quietLogger, sys: recorder)
        var pending: [UInt64] = [first]
        var routeDone: [String: Set<UInt64>] = [:]
        // Two routes (FORMAT.md §5c): one serving everything, one added "from now".
        try await tombstones.declareRoute("all")
        recorder.note(.acknowledgedRouteStart(1, route: "all"))
        try await tombstones.declareRoute("late", startingAt: first + 1)
        recorder.note(.acknowledgedRouteStart(first + 1, route: "late"))
        for step in 0..<Int(ProcessInfo.processInfo.environment["OUTBOX_POWER_LOSS_STEPS"] ?? "80")! {
            let r = Int.random(in: 0..<100, using: &g)
            if r < 55 {
                let seq = try await outbox.append(message(step))
                pending.append(seq)
                recorder.note(.acknowledgedAppend(seq...seq, []))
            } else if r < 65 {
                // Concurrent appends, which the group committer writes with one write when they wait
                // together: the writes whose pages a power loss may keep in any order.
                let messages = (0..<Int.random(in: 2...4, using: &g)).map { message(step * 10 + $0) }
                let seqs = try await withThrowingTaskGroup(of: UInt64.self) { group in
                    for m in messages { group.addTask { try await outbox.append(m) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                pending += seqs.sorted()
                for seq in seqs.sorted() { recorder.note(.acknowledgedAppend(seq...seq, [])) }
            } else if r < 75 {
                let batch = (0..<Int.random(in: 2...4, using: &g)).map { message(step * 10 + $0) }
                let range = try await outbox.append(contentsOf: batch)
                pending += Array(range)
                recorder.note(.acknowledgedAppend(range, batch))
            } else if r < 86, !pending.isEmpty {
                let n = min(pending.count, Int.random(in: 1...6, using: &g))
                let done = Array(pending.prefix(n))
                pending.removeFirst(n)
                let status: MessageStatus = [.dead, .expired, .unrouted, .published, .published, .published][Int.random(in: 0..<6, using: &g)]
                try await tombstones.acknowledge(done, as: status)
                recorder.note(.acknowledgedTombstones(done, status))
            } else if r < 93, !pending.isEmpty {
                // One route is done with some pending messages; the outbox is not (another route is not).
                // A route finishes a message once.
                let route = Bool.random(using: &g) ? "all" : "late"
                let done = pending.filter { !routeDone[route, default: []].contains($0) && Bool.random(using: &g) }
                routeDone[route, default: []].formUnion(done)
                let status: MessageStatus = [.dead, .expired, .published][Int.random(in: 0..<3, using: &g)]
                try await tombstones.acknowledge(done, as: status, route: route)
                recorder.note(.acknowledgedRoute(done, status, route: route))
            } else {
                try await tombstones.compact(forceCheckpoint: Bool.random(using: &g))
            }
        }
        try await tombstones.close()
        try await outbox.close()

        let ops = recorder.snapshot
        let submittedMessages = submitted
        // Thousands of reopens: they run on a thread of their own and report what went wrong.
        let (states, failures, problems) = try await onOwnThread { [g] () -> (Int, Int, [String]) in
            var g = g
            var model = CrashModel()
            var acknowledged: [UInt64] = []
            var finished: [UInt64: MessageStatus] = [:]
            var routes = RouteAcknowledgements()
            var states = 0
            var failures = 0
            var problems: [String] = []
            for (index, op) in ops.enumerated() {
                model.step(op)
                switch op {
                case .acknowledgedAppend(let range, _): acknowledged += Array(range)
                case .acknowledgedTombstones(let seqs, let status): for s in seqs { finished[s] = status }
                case .acknowledgedRoute(let seqs, let status, let route): for s in seqs { routes.finished[route, default: [:]][s] = status }
                case .acknowledgedRouteStart(let start, let route): routes.starts[route] = start
                default: break
                }
                for (what, files) in model.crashStates(random: &g) {
                    states += 1
                    if let problem = Self.check(files, tmp: tmp, state: states, acknowledged: acknowledged,
                                                finished: finished, routes: routes, submitted: submittedMessages) {
                        failures += 1
                        if failures <= 5 { problems.append("seed \(seed), after operation \(index) (\(op)), \(what): \(problem)") }
                    }
                }
            }
            return (states, failures, problems)
        }
        for problem in problems { Issue.record(Comment(rawValue: problem)) }
        print("[everyCrashStateRecovers] \(ops.count) operations, \(states) crash states checked, \(failures) failed, seed \(seed)")
        #expect(states >= 2000)
    }

    /// Materializes one crash state and checks it; returns what is wrong, or nil.
    /// What the routes' acknowledgements said (FORMAT.md §5c).
    struct RouteAcknowledgements {
        var finished: [String: [UInt64: MessageStatus]] = [:]
        var starts: [String: UInt64] = [:]
    }

    private static func check(_ files: [String: [UInt8]], tmp: TemporaryDirectory, state: Int, acknowledged: [UInt64],
                              finished: [UInt64: MessageStatus], routes: RouteAcknowledgements,
                              submitted: [MessageID: OutboxMessage]) -> String? {
        let dir = tmp.sub("crash-\(state)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            for (name, bytes) in files {
                guard FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                    return "cannot write \(name)"
                }
            }
            guard files.keys.contains(where: { $0.hasPrefix("segment-") }) else {
                // The outbox was never created durably: nothing can have been acknowledged.
                return acknowledged.isEmpty ? nil : "no segment survived but \(acknowledged.count) appends were acknowledged"
            }
            var config = OutboxConfiguration()
            config.createIfMissing = false
            let outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
            let tombstones = try TombstoneLog(openingAt: dir, checkpointBytes: 1 << 20, logger: quietLogger, sys: LinuxSystemCalls())
            let snapshot = tombstones.snapshot
            let stored = try OutboxReader(path: dir).messages()
            var bySeq: [UInt64: OutboxMessage] = [:]
            for m in stored {
                guard let original = submitted[m.message.id], original == m.message else {
                    return "message \(m.seq) was never appended as read back (garbled)"
                }
                bySeq[m.seq] = m.message
            }
            // An acknowledged message may be gone only if finished: tombstoned, or dropped by drop-oldest
            // (recorded in dropped.log before its segment was removed).
            let read = try OutboxReader(path: dir).tombstones()
            for seq in acknowledged where bySeq[seq] == nil && read.status(of: seq) == .pending {
                return "acknowledged message \(seq) is lost"
            }
            for (seq, status) in finished where snapshot.status(of: seq) != status {
                return "acknowledged tombstone for \(seq) (\(status)) came back as \(snapshot.status(of: seq))"
            }
            for (route, start) in routes.starts where snapshot.routes[route]?.start != start {
                return "acknowledged start \(start) of route \(route) came back as \(snapshot.routes[route]?.start.description ?? "none")"
            }
            for (route, statuses) in routes.finished {
                for (seq, status) in statuses where snapshot.status(of: seq) == .pending && snapshot.status(of: seq, route: route) != status {
                    return "acknowledged tombstone of route \(route) for \(seq) (\(status)) came back as \(snapshot.status(of: seq, route: route))"
                }
            }
            let highest = max(acknowledged.max() ?? 0, finished.keys.max() ?? 0, stored.last?.seq ?? 0)
            let next = try outbox.appendBlocking(sampleMessage(0))
            if next <= highest { return "sequence number \(next) reused (highest known \(highest))" }
            try outbox.closeBlocking()
            try tombstones.closeBlocking()
            let verify = try OutboxInspector.verify(path: dir)
            if let p = verify.problems.first(where: { $0.kind != .leftoverFile }) { return "verify after recovery: \(p)" }
            return nil
        } catch {
            return "recovery failed: \(error)"
        }
    }
}
