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
        // Half the runs encrypt (FORMAT.md §10): every (key, nonce) pair written is recorded, and a pair
        // used for two different envelopes fails the run.
        // (OUTBOX_POWER_LOSS_ENCRYPTED=1 or 0 decides it.)
        let encrypt = Bool.random(using: &g)
        let keys = (ProcessInfo.processInfo.environment["OUTBOX_POWER_LOSS_ENCRYPTED"].map { $0 == "1" } ?? encrypt)
            ? try OutboxKeys([[UInt8](repeating: 0x77, count: 32)]) : nil
        config.keys = keys
        print("[everyCrashStateRecovers] \(dropping ? "with a disk budget and drop-oldest" : "no disk budget"), \(keys == nil ? "plain" : "encrypted")")
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
        let (states, failures, problems, pairs) = try await onOwnThread { [g] () -> (Int, Int, [String], Int) in
            var g = g
            var model = CrashModel()
            var acknowledged: [UInt64] = []
            var finished: [UInt64: MessageStatus] = [:]
            var routes = RouteAcknowledgements()
            var states = 0
            var failures = 0
            var problems: [String] = []
            var nonces = NonceLedger()
            var headers: [Int: [UInt8]] = [:]
            for (index, op) in ops.enumerated() {
                model.step(op)
                if case .write(let inode, let offset, let bytes) = op {
                    if offset == 0, bytes.count >= FileHeader.size { headers[inode] = Array(bytes[0..<FileHeader.size]) }
                    if let header = headers[inode] { nonces.note(header: header, bytes: bytes, at: offset, what: "operation \(index)") }
                }
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
                                                finished: finished, routes: routes, submitted: submittedMessages, keys: keys, nonces: &nonces) {
                        failures += 1
                        if failures <= 5 { problems.append("seed \(seed), after operation \(index) (\(op)), \(what): \(problem)") }
                    }
                }
            }
            problems += nonces.reuses.prefix(5).map { "seed \(seed): \($0)" }
            return (states, failures + nonces.reuses.count, problems, nonces.pairs)
        }
        for problem in problems { Issue.record(Comment(rawValue: problem)) }
        print("[everyCrashStateRecovers] \(ops.count) operations, \(states) crash states checked, \(failures) failed, \(pairs) (key, nonce) pairs, seed \(seed)")
        if keys != nil { #expect(pairs > 100, "the ledger saw the envelopes written") }
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
                              submitted: [MessageID: OutboxMessage], keys: OutboxKeys?, nonces: inout NonceLedger) -> String? {
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
            config.keys = keys
            let outbox = try Outbox(openingAt: dir, configuration: config, logger: quietLogger)
            let tombstones = try TombstoneLog(openingAt: dir, checkpointBytes: 1 << 20, logger: quietLogger, sys: LinuxSystemCalls())
            let snapshot = tombstones.snapshot
            let stored = try OutboxReader(path: dir, keys: keys).messages()
            var bySeq: [UInt64: OutboxMessage] = [:]
            for m in stored {
                guard let original = submitted[m.message.id], original == m.message else {
                    return "message \(m.seq) was never appended as read back (garbled)"
                }
                bySeq[m.seq] = m.message
            }
            // An acknowledged message may be gone only if finished: tombstoned, or dropped by drop-oldest
            // (recorded in dropped.log before its segment was removed).
            let read = try OutboxReader(path: dir, keys: keys).tombstones()
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
            // What the reopened writer wrote (under an epoch of its own) joins the ledger of pairs.
            for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasPrefix("segment-") || name == "dead-letters.log" {
                let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
                if bytes.count >= FileHeader.size { nonces.note(header: Array(bytes[0..<FileHeader.size]), bytes: bytes, at: 0, what: "crash state \(state) reopened") }
            }
            let verify = try OutboxInspector.verify(path: dir, keys: keys)
            if let p = verify.problems.first(where: { $0.kind != .leftoverFile }) { return "verify after recovery: \(p)" }
            return nil
        } catch {
            return "recovery failed: \(error)"
        }
    }

    /// The ledger finds a reuse when there is one: two different commits sealed at one offset under one
    /// epoch (what a writer that kept its epoch after a cut write would do).
    @Test func theNonceLedgerFindsAReuse() throws {
        let keys = try OutboxKeys([[UInt8](repeating: 1, count: 32)])
        let header = FileHeader(kind: .segment, outboxID: OutboxID.random(), base: 1, maxRecordSize: 4096, createdAtMicros: 0).encrypting()
        let place = Envelope.Place(outboxID: header.outboxID, kind: .segment, base: 1, offset: 64, file: "s")
        let clock = OutboxClock.system.now()
        func frame(_ payload: UInt8, epoch: UInt64) throws -> [UInt8] {
            let records = try MessageCodec.encode([OutboxMessage(type: "T", payload: [payload])], compressionThreshold: nil, maxBody: 4096,
                                                  clock: clock)
            return try Envelope.frame(kind: .messages, first: 1, count: 1, prefix: [], records: records[...], place: place, tag: 1, keys: keys, epoch: epoch)
        }
        var ledger = NonceLedger()
        ledger.note(header: header.encode(), bytes: header.encode() + (try frame(1, epoch: 5)), at: 0, what: "first")
        ledger.note(header: header.encode(), bytes: try frame(1, epoch: 5), at: 64, what: "the same bytes again")
        ledger.note(header: header.encode(), bytes: try frame(2, epoch: 6), at: 64, what: "a new epoch")
        #expect(ledger.reuses.isEmpty)
        ledger.note(header: header.encode(), bytes: try frame(2, epoch: 5), at: 64, what: "reuse")
        #expect(ledger.reuses.count == 1 && ledger.reuses[0].hasPrefix("reuse"))
    }

    /// Every envelope written (FORMAT.md §10), by its key and nonce: (key id, file, epoch) names the data
    /// key, the offset the nonce. The same pair for two different envelopes is a reuse.
    struct NonceLedger {
        private var seen: [String: [UInt8]] = [:]
        private(set) var reuses: [String] = []
        var pairs: Int { seen.count }

        /// Notes the envelopes of the frames in `bytes`, written at `offset` of a file whose header is `header`.
        mutating func note(header: [UInt8], bytes: [UInt8], at offset: Int64, what: String) {
            guard let h = (try? FileHeader.decode(header, expecting: .segment)) ?? (try? FileHeader.decode(header, expecting: .deadLetters)),
                  h.encrypted else { return }
            var i = offset == 0 ? FileHeader.size : 0
            while i + FrameHeader.size <= bytes.count {
                let length = Int(ByteReader.u32(bytes, at: i + 4))
                guard length > 0, i + FrameHeader.size + length <= bytes.count else { return }
                let kind = FrameKind(rawValue: UInt16(truncatingIfNeeded: ByteReader.u32(bytes, at: i + 20)))
                let body = Array(bytes[(i + FrameHeader.size)..<(i + FrameHeader.size + length)])
                if let kind, Envelope.sealsRecords(kind) {
                    let start = Envelope.clearPrefix(kind, body)
                    if let (_, key, epoch) = Envelope.peek(body[start...]) {
                        let pair = "key \(key) \(String(decoding: h.kind.magic, as: UTF8.self)) base \(h.base) epoch \(epoch) offset \(offset + Int64(i))"
                        let envelope = Array(body[start...])
                        if let earlier = seen[pair], earlier != envelope {
                            reuses.append("\(what): (key, nonce) \(pair) sealed two different envelopes")
                        }
                        seen[pair] = envelope
                    }
                }
                i += FrameHeader.size + length
            }
        }
    }
}

