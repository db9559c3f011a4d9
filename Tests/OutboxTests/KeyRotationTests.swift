import Foundation
import Testing
@testable import Outbox

/// Writes `keys` (32 bytes of each fill) to `path` as hex lines, atomically (a new file renamed over).
private func writeKeyFile(_ path: String, _ fills: [UInt8]) throws {
    let text = fills.map { String(repeating: String(format: "%02x", $0), count: 32) }.joined(separator: "\n") + "\n"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
}

private func id(_ fill: UInt8) throws -> OutboxKeys.ID { try OutboxKeys([[UInt8](repeating: fill, count: 32)]).current.id }

/// The sequence numbers of the outbox at `dir` whose frames are sealed with key `key` (read in clear).
private func seqs(sealedWith key: OutboxKeys.ID, in dir: String) throws -> [UInt64] {
    var out: [UInt64] = []
    try OutboxReader(path: dir).forEachFrame(from: 1) { _, frame in
        if let (_, k, _) = Envelope.peek(frame.body[...]), k == key {
            out += Array(frame.header.first..<(frame.header.first + UInt64(frame.header.count)))
        }
        return true
    }
    return out
}

/// An outbox at `dir` whose writer reads its keys from `keyFile`, which holds the key of 32 bytes of 0xA1.
private func rotatingOutbox(_ dir: String, keyFile: String) async throws -> Outbox {
    try writeKeyFile(keyFile, [0xA1])
    var config = configuration(segmentSize: 1200)
    config.keys = try OutboxKeys.load(file: keyFile)
    return try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
}

private func message(_ i: Int) -> OutboxMessage {
    OutboxMessage(type: "Reading", key: "k\(i % 3)", payload: Array("rotated secret \(i) ".utf8) + [UInt8](repeating: 0x2a, count: 60))
}

/// Every state a crash after any of `ops` could leave (``CrashModel``, starting from `model`), each
/// written to a directory of its own under `tmp` and given to `check` with the operation's index and what
/// the state is; `check` returns the problems it found. Returns how many states there were, and every
/// problem, named by operation and state.
private func checkEveryCrashState(_ ops: [RecordingCalls.Op], from model: CrashModel, random g: inout SeededGenerator, in tmp: TemporaryDirectory,
                                  _ check: (_ index: Int, _ op: RecordingCalls.Op, _ files: [String: [UInt8]], _ crash: String) throws -> [String])
    -> (states: Int, problems: [String]) {
    var model = model
    var (states, problems) = (0, [String]())
    for (index, op) in ops.enumerated() {
        model.step(op)
        for (what, files) in model.crashStates(random: &g) {
            states += 1
            let crash = tmp.sub("crash-\(states)")
            defer { try? FileManager.default.removeItem(atPath: crash) }
            do {
                try FileManager.default.createDirectory(atPath: crash, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                for (name, bytes) in files { _ = FileManager.default.createFile(atPath: crash + "/" + name, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) }
                problems += try check(index, op, files, crash).map { "after operation \(index), \(what): \($0)" }
            } catch {
                problems.append("after operation \(index), \(what): \(error)")
            }
        }
    }
    return (states, problems)
}

/// Key rotation (FORMAT.md §10e): a new first key in the key file applies from the writer's next
/// segment without a restart, readers follow the file, and a key is retired only when nothing pending
/// needs it.
@Suite("Key rotation")
struct KeyRotationTests {
    @Test func aNewKeyAppliesFromTheNextSegmentWithoutARestart() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob"), keyFile = tmp.sub("keys")
        let outbox = try await rotatingOutbox(dir, keyFile: keyFile)
        // A relay by path that loaded the key file before the rotation.
        var relayConfig = relayConfiguration()
        relayConfig.keys = try OutboxKeys.load(file: keyFile)
        let sink = RecordingSink()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfig, logger: quietLogger)
        try await running(relay) {
            for i in 0..<10 { try await outbox.append(message(i)) }
            try await eventually("published before the rotation") { sink.published.count == 10 }
            try writeKeyFile(keyFile, [0xB2, 0xA1])
            for i in 10..<40 { try await outbox.append(message(i)) }
            try await eventually("published after the rotation") { sink.published.count == 40 }
        }
        #expect(sink.published.map(\.message.payload) == (0..<40).map { message($0).payload })
        let status = try OutboxInspector.keyStatus(path: dir)
        let (a, b) = (try id(0xA1), try id(0xB2))
        #expect(status.keys.map(\.id) == [a, b], "the keyring names both, the old one first")
        let newKey = try #require(status.keys.first { $0.id == b })
        #expect(newKey.segments >= 1 && newKey.writing)
        #expect(status.keys.first { $0.id == a }?.writing == false)
        // Every segment after the first one encrypted with the new key holds only frames of the new key:
        // the key changed at a segment's start.
        var keyOfSegment: [String: Set<OutboxKeys.ID>] = [:]
        try OutboxReader(path: dir).forEachFrame(from: 1) { segment, frame in
            if let (_, k, _) = Envelope.peek(frame.body[...]) { keyOfSegment[segment.name, default: []].insert(k) }
            return true
        }
        #expect(keyOfSegment.values.allSatisfy { $0.count == 1 }, "no segment mixes keys: \(keyOfSegment)")
        try await outbox.close()
    }

    @Test func aKeyIsRetiredOnlyWhenNothingPendingNeedsIt() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob"), keyFile = tmp.sub("keys")
        let outbox = try await rotatingOutbox(dir, keyFile: keyFile)
        for i in 0..<10 { try await outbox.append(message(i)) }
        let (a, b) = (try id(0xA1), try id(0xB2))
        // The current key: the writer encrypts with it.
        #expect { try OutboxInspector.retireKey(a, path: dir) } throws: { ($0 as? OutboxError)?.code == .keyInUse && "\($0)".contains("writer") }
        try writeKeyFile(keyFile, [0xB2, 0xA1])
        for i in 10..<30 { try await outbox.append(message(i)) }
        // Pending messages need it.
        #expect { try OutboxInspector.retireKey(a, path: dir) } throws: { ($0 as? OutboxError)?.code == .keyInUse && "\($0)".contains("pending") }
        let underA = try OutboxReader(path: dir, keys: try OutboxKeys.load(file: keyFile)).messages().count  // readable with both
        #expect(underA == 30)
        let tombstones = try TombstoneLog(openingAt: dir, logger: quietLogger)
        let seqsUnderA = try seqs(sealedWith: a, in: dir)
        try await tombstones.acknowledge(seqsUnderA)
        try OutboxInspector.retireKey(a, path: dir)
        try OutboxInspector.retireKey(a, path: dir)  // again: nothing changes
        #expect { try OutboxInspector.retireKey(b, path: dir) } throws: { ($0 as? OutboxError)?.code == .keyInUse }
        #expect { try OutboxInspector.retireKey(OutboxKeys.ID(value: 42), path: dir) } throws: { ($0 as? OutboxError)?.code == .invalidArgument }
        let status = try OutboxInspector.keyStatus(path: dir)
        #expect(status.keys.first { $0.id == a }?.retired != nil && status.keys.first { $0.id == b }?.retired == nil)
        _ = try await tombstones.compact()
        try await tombstones.close()
        try await outbox.close()
        // A writer given the retired key as its current one is refused; the pending data reads without it.
        var old = configuration(segmentSize: 1200)
        old.keys = try OutboxKeys([[UInt8](repeating: 0xA1, count: 32), [UInt8](repeating: 0xB2, count: 32)])
        await #expect { try await Outbox.open(at: dir, configuration: old, logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .retiredKey }
        let pending = try OutboxReader(path: dir, keys: try OutboxKeys([[UInt8](repeating: 0xB2, count: 32)])).pendingMessages()
        #expect(pending.map(\.message.payload) == Array((0..<30).map { message($0).payload }.dropFirst(seqsUnderA.count)))
    }

    /// A keyring that does not parse is set aside whole (`keyring.json.broken`, then `.broken.1`), never
    /// overwritten, and the writer begins a new one and goes on.
    @Test func aDamagedKeyringIsKeptWholeAndANewOneBegun() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob"), keyFile = tmp.sub("keys")
        try await rotatingOutbox(dir, keyFile: keyFile).close()
        var config = configuration(segmentSize: 1200)
        config.keys = try OutboxKeys.load(file: keyFile)
        for (n, junk) in ["not json", "{\"version\": 9}"].enumerated() {
            try Data(junk.utf8).write(to: URL(fileURLWithPath: dir + "/keyring.json"))
            let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
            try await outbox.append(message(n))
            try await outbox.close()
            let kept = dir + "/keyring.json.broken" + (n == 0 ? "" : ".1")
            #expect(try String(contentsOfFile: kept, encoding: .utf8) == junk)
            #expect(try OutboxInspector.keyStatus(path: dir).keys.map(\.id) == [try id(0xA1)])
        }
        #expect(try String(contentsOfFile: dir + "/keyring.json.broken", encoding: .utf8) == "not json", "the first copy was kept")
    }

    /// A rotation and a retire through the recording seam, then every state a crash after any of their
    /// operations could leave: each opens with the keys the key file held, every acknowledged message
    /// reads back, and no key a pending message needs is ever retired.
    @Test func aCrashAtEveryStepOfARotationLeavesEverythingReadable() async throws {
        let seed = testSeed("aCrashAtEveryStepOfARotation")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob"), keyFile = tmp.sub("keys")
        try writeKeyFile(keyFile, [0xA1])
        let recorder = RecordingCalls()
        var config = configuration(segmentSize: 700, sys: recorder)
        config.keys = try OutboxKeys.load(file: keyFile)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        var submitted: Set<[UInt8]> = []
        func append(_ i: Int) async throws -> UInt64 {
            let m = message(i)
            submitted.insert(m.payload)
            let seq = try await outbox.append(m)
            recorder.note(.acknowledgedAppend(seq...seq, []))
            return seq
        }
        for i in 0..<8 { _ = try await append(i) }
        try writeKeyFile(keyFile, [0xB2, 0xA1])  // step 1: the new key first
        for i in 8..<20 { _ = try await append(i) }  // step 2: the writer's next segment takes it
        let a = try id(0xA1)
        let underA = try seqs(sealedWith: a, in: dir)
        #expect(underA.count >= 8 && underA.count < 20)
        let tombstones = try TombstoneLog(openingAt: dir, checkpointBytes: 200, logger: quietLogger, sys: recorder)
        try await tombstones.acknowledge(underA)  // step 3: what the old key encrypted is published
        recorder.note(.acknowledgedTombstones(underA, .published))
        _ = try await tombstones.compact(forceCheckpoint: true)  // step 4: and compacted
        try OutboxInspector.retireKey(a, reader: OutboxReader(path: dir, sys: recorder))  // step 5: retired
        try writeKeyFile(keyFile, [0xB2])  // step 6: and removed from the key file
        for i in 20..<26 { _ = try await append(i) }
        try await tombstones.close()
        try await outbox.close()
        let ops = recorder.snapshot
        print("[aCrashAtEveryStepOfARotation] \(ops.count) operations, seed \(seed)")
        let both = try OutboxKeys([[UInt8](repeating: 0xB2, count: 32), [UInt8](repeating: 0xA1, count: 32)])
        var acknowledged: [UInt64] = []
        let (states, problems) = checkEveryCrashState(ops, from: CrashModel(), random: &g, in: tmp) { _, op, files, crash in
            if case .acknowledgedAppend(let r, _) = op { acknowledged += Array(r) }
            guard files.keys.contains(where: { $0.hasPrefix("segment-") }) else { return acknowledged.isEmpty ? [] : ["no segment"] }
            var problems: [String] = []
            // The ring names no retired key that pending data needs.
            let status = try OutboxInspector.keyStatus(path: crash)
            if let k = status.keys.first(where: { $0.retired != nil && $0.pendingMessages > 0 }) {
                problems.append("key \(k.id) retired while \(k.pendingMessages) pending messages need it")
            }
            var reopen = OutboxConfiguration()
            reopen.createIfMissing = false
            reopen.keys = both
            let o = try Outbox(openingAt: crash, configuration: reopen, logger: quietLogger)
            let read = try OutboxReader(path: crash, keys: both)
            let stored = Dictionary(try read.messages().map { ($0.seq, $0.message) }, uniquingKeysWith: { a, _ in a })
            for m in stored.values where !submitted.contains(m.payload) || m.type != "Reading" { problems.append("a garbled message") }
            let finished = try read.tombstones()
            for seq in acknowledged where stored[seq] == nil && finished.status(of: seq) == .pending {
                problems.append("acknowledged message \(seq) is lost")
            }
            _ = try o.appendBlocking(message(99))
            try o.closeBlocking()
            try TombstoneLog(openingAt: crash, logger: quietLogger).closeBlocking()  // cuts a torn tail, as a relay would
            let verify = try OutboxInspector.verify(path: crash, keys: both)
            if let p = verify.problems.first(where: { $0.kind != .leftoverFile }) { problems.append("verify: \(p)") }
            return problems
        }
        for p in problems.prefix(5) { Issue.record(Comment(rawValue: "seed \(seed): \(p)")) }
        print("[aCrashAtEveryStepOfARotation] \(states) crash states, \(problems.count) problems")
        #expect(states > 200)
    }
}

/// Writes a plain outbox with several segments, some finished messages and two dead letters; returns
/// the payloads appended.
private func plainOutbox(_ dir: String, sys: (any SystemCalls)? = nil) async throws -> [[UInt8]] {
    let outbox = try await Outbox.open(at: dir, configuration: configuration(segmentSize: 700, sys: sys), logger: quietLogger)
    var payloads: [[UInt8]] = []
    for i in 0..<14 {
        var m = message(i)
        if i % 5 == 0 { m.lane = .critical }
        payloads.append(m.payload)
        try await outbox.append(m)
    }
    let stored = try OutboxReader(path: dir).messages()
    let letters = stored.prefix(2).map { DeadLetter(seq: $0.seq, message: $0.message, reason: "rejected", lastError: "no", attempts: 3, deadAtMicros: 1, redriven: false) }
    try DeadLetterLog.append(letters, in: try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls()), outboxID: outbox.id,
                             maxRecordSize: UInt32(outbox.maxRecordSize))
    try await outbox.close()
    return payloads
}

private func fileBytes(_ dir: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasPrefix("segment-") || name == "dead-letters.log" {
        out[name] = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
    }
    return out
}


@Suite("Encrypting an existing outbox")
struct EncryptExistingTests {
    @Test func encryptRewritesEveryPlainFileReadably() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let payloads = try await plainOutbox(dir)
        #expect(try fileBytes(dir).values.contains { bytesContain($0, "rotated secret") }, "the payloads are in clear before")
        let k = try OutboxKeys([[UInt8](repeating: 0xC3, count: 32)])
        let actions = try await OutboxInspector.encrypt(path: dir, keys: k, logger: quietLogger)
        #expect(actions.count == (try segmentNames(dir).count) + 1)
        for (name, bytes) in try fileBytes(dir) {
            #expect(!bytesContain(bytes, "rotated secret") && !bytesContain(bytes, "Reading") && !bytesContain(bytes, "rejected"), "\(name) still holds text in clear")
            #expect(try FileHeader.decode(Array(bytes[0..<FileHeader.size]), expecting: name.hasPrefix("segment-") ? .segment : .deadLetters).encrypted)
        }
        let reader = try OutboxReader(path: dir, keys: k)
        #expect(try reader.messages().map(\.message.payload) == payloads)
        #expect(try reader.messages().map(\.message.lane.name).filter { $0 == "critical" }.count == 3)
        #expect(try reader.deadLetters().map(\.message.payload) == Array(payloads.prefix(2)))
        #expect(try OutboxInspector.verify(path: dir, keys: k).isClean)
        #expect(try await OutboxInspector.encrypt(path: dir, keys: k, logger: quietLogger).isEmpty, "nothing left in clear")
        // The writer goes on encrypted; without the key it is refused.
        await #expect { try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .missingKey }
        var config = configuration()
        config.keys = k
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(message(99))
        try await outbox.close()
        #expect(try OutboxReader(path: dir, keys: k).messages().count == 15)
        // Held by a writer: refused, touching nothing.
        let held = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        await #expect { try await OutboxInspector.encrypt(path: dir, keys: k, logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .locked }
        try await held.close()
    }

    /// `outbox encrypt` through the recording seam, then every state a crash after any of its operations
    /// could leave: every message and dead letter reads back with the key, and verify finds nothing.
    @Test func aCrashAtEveryStepOfEncryptLosesNothing() async throws {
        let seed = testSeed("aCrashAtEveryStepOfEncrypt")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let payloads = try await plainOutbox(dir)
        let k = try OutboxKeys([[UInt8](repeating: 0xC3, count: 32)])
        let recorder = RecordingCalls()
        // The recorder starts from the files as they are: a first state of everything synced.
        var model = CrashModel()
        let existing = try fileBytes(dir)
        let inodes = recorder.adopt(Array(existing.keys))
        for (name, bytes) in existing {
            let inode = inodes[name]!
            model.step(.create(inode: inode, name: name))
            model.step(.write(inode: inode, offset: 0, bytes: bytes))
            model.step(.sync(inode: inode))
        }
        model.step(.syncDirectory)
        let directory = try OutboxDirectory.open(dir, create: false, sys: recorder, keys: k)
        _ = try OutboxInspector.encrypt(directory, logger: quietLogger)
        let ops = recorder.snapshot
        let (states, problems) = checkEveryCrashState(ops, from: model, random: &g, in: tmp) { _, _, _, crash in
            var problems: [String] = []
            let reader = try OutboxReader(path: crash, keys: k)
            if try reader.messages().map(\.message.payload) != payloads { problems.append("messages differ") }
            if try reader.deadLetters().map(\.message.payload) != Array(payloads.prefix(2)) { problems.append("dead letters differ") }
            let verify = try OutboxInspector.verify(path: crash, keys: k)
            if let p = verify.problems.first(where: { $0.kind != .leftoverFile }) { problems.append("verify: \(p)") }
            return problems
        }
        for p in problems.prefix(5) { Issue.record(Comment(rawValue: "seed \(seed): \(p)")) }
        print("[aCrashAtEveryStepOfEncrypt] \(ops.count) operations, \(states) crash states, \(problems.count) problems, seed \(seed)")
        #expect(states > 100)
    }
}

@Suite("Key commands of the tool")
struct KeyCommandTests {
    /// `outbox encrypt`, `keys status` and `keys retire` from the command line: a plain outbox encrypted,
    /// its key listed as needed, retire refused (75) while the writer's key, a rotated-away key retired
    /// once its messages are finished, and no key's bytes in any output.
    @Test func encryptStatusAndRetireFromTheTool() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob"), keyFile = tmp.sub("keys")
        #expect(try await runOutbox(["append", dir, "--count", "4", "--payload", "plain secret"]).status == 0)
        let noKey = try await runOutbox(["encrypt", dir])
        #expect(noKey.status == 64 && noKey.stderr.contains("--key-file"), "\(noKey.stderr)")
        try writeKeyFile(keyFile, [0xA1])
        let encrypted = try await runOutbox(["encrypt", dir, "--key-file", keyFile])
        #expect(encrypted.status == 0 && encrypted.stdout.contains("encrypted 1 file(s)"), "\(encrypted.stdout) \(encrypted.stderr)")
        let segment = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/" + (try segmentNames(dir))[0])))
        #expect(!bytesContain(segment, "plain secret"))
        let (a, b) = (try id(0xA1), try id(0xB2))
        let status = try await runOutbox(["keys", "status", dir, "--key-file", keyFile])
        #expect(status.status == 0 && status.stdout.contains("key \(a): needed: 1 segment(s), 4 pending message(s)"), "\(status.stdout)")
        let retireCurrent = try await runOutbox(["keys", "retire", dir, "\(a)"])
        #expect(retireCurrent.status == 75 && retireCurrent.stderr.contains("key-in-use"), "\(retireCurrent.stderr)")
        // Rotate: the next writer takes the new key; the old one is still needed by 4 pending messages.
        try writeKeyFile(keyFile, [0xB2, 0xA1])
        #expect(try await runOutbox(["append", dir, "--count", "2", "--key-file", keyFile]).status == 0)
        let onlyNew = tmp.sub("new")
        try writeKeyFile(onlyNew, [0xB2])
        let missing = try await runOutbox(["keys", "status", dir, "--key-file", onlyNew])
        #expect(missing.status == 1 && missing.stdout.contains("NOT in the key source") && missing.stderr.contains("\(a)"), "\(missing.stdout) \(missing.stderr)")
        let tombstones = try TombstoneLog(openingAt: dir, logger: quietLogger)
        try await tombstones.acknowledge(1...4)
        try await tombstones.close()
        let retired = try await runOutbox(["keys", "retire", dir, "\(a)"])
        #expect(retired.status == 0 && retired.stdout.contains("key \(a): retired"), "\(retired.stderr)")
        let json = try await runOutbox(["keys", "status", dir, "--json"])
        #expect(json.status == 0 && json.stdout.contains("\"id\":\"\(a)\",\"state\":\"retired\"") && json.stdout.contains("\"id\":\"\(b)\",\"state\":\"needed\""), "\(json.stdout)")
        let oldWriter = tmp.sub("old")
        try writeKeyFile(oldWriter, [0xA1, 0xB2])
        let refused = try await runOutbox(["append", dir, "--count", "1", "--key-file", oldWriter])
        #expect(refused.status == 78 && refused.stderr.contains("retired-key"), "\(refused.stderr)")
        for r in [encrypted, status, retireCurrent, missing, retired, json, refused] {
            #expect(!(r.stdout + r.stderr).contains(String(repeating: "a1", count: 32)) && !(r.stdout + r.stderr).contains(String(repeating: "b2", count: 32)))
        }
    }
}
