import Foundation
import Testing
@testable import Outbox

private func keys(_ fill: UInt8...) throws -> OutboxKeys { try OutboxKeys(fill.map { [UInt8](repeating: $0, count: 32) }) }

/// A writer's configuration that encrypts with the key of 32 bytes of `fill`.
private func encrypted(_ fill: UInt8, segmentSize: Int = 64 << 20) throws -> OutboxConfiguration {
    var config = configuration(segmentSize: segmentSize)
    config.keys = try OutboxKeys([[UInt8](repeating: fill, count: 32)])
    return config
}

private func secretMessage(_ i: Int, lane: OutboxLane = .normal) -> OutboxMessage {
    OutboxMessage(type: "Reading", key: "k\(i % 3)", headers: [.init("x-n", "\(i)")],
                  payload: Array("top secret reading number \(i)".utf8), lane: lane)
}


/// Encryption at rest (FORMAT.md §10).
@Suite("Encryption at rest")
struct EncryptionTests {
    /// Messages appended with keys read back with them, lanes and all; the segment is a version-7 file
    /// with the encryption flag, and no payload, header value or type is in its bytes.
    @Test func anEncryptedOutboxReadsBackWithItsKey() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let config = try encrypted(1)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(contentsOf: (0..<5).map { secretMessage($0) })
        try await outbox.append(contentsOf: (5..<9).map { secretMessage($0, lane: $0 % 2 == 0 ? .critical : .bulk) })
        try await outbox.append(secretMessage(9))
        try await outbox.close()
        let read = try OutboxReader(path: dir, keys: try keys(1)).messages()
        #expect(read.map(\.message.payload) == (0..<10).map { secretMessage($0).payload })
        #expect(read.map(\.message.lane) == [.normal, .normal, .normal, .normal, .normal, .bulk, .critical, .bulk, .critical, .normal])
        #expect(read.allSatisfy { $0.message.type == "Reading" && $0.message.headers.first?.value == "x-n".dropFirst(0).description.isEmpty.description ? false : true })
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/" + segmentNames(dir)[0])))
        let header = try FileHeader.decode(Array(bytes[0..<FileHeader.size]), expecting: .segment)
        #expect(header.version == FileHeader.currentVersion && header.encrypted)
        for text in ["top secret", "Reading", "x-n"] { #expect(!bytesContain(bytes, text), "\(text) is in the encrypted segment's bytes") }
    }

    /// Without a key, reading an encrypted frame is `missing-key`; with another key, `wrong-key` naming
    /// the key id the frame needs; neither is `corrupt`. A writer without the key is refused; one with
    /// the old key after a new one (rotation) reads and writes.
    @Test func aMissingOrWrongKeyIsNotDamage() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let config = try encrypted(1)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(secretMessage(0))
        try await outbox.close()
        let needed = try keys(1).current.id
        #expect { try OutboxReader(path: dir).messages() } throws: { ($0 as? OutboxError)?.code == .missingKey && "\($0)".contains("\(needed)") }
        #expect { try OutboxReader(path: dir, keys: try keys(2)).messages() } throws: {
            ($0 as? OutboxError)?.code == .wrongKey && "\($0)".contains("\(needed)") && "\($0)".contains("segment-")
        }
        await #expect { try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger) } throws: {
            ($0 as? OutboxError)?.code == .missingKey
        }
        var other = configuration()
        other.keys = try keys(2)
        await #expect { try await Outbox.open(at: dir, configuration: other, logger: quietLogger) } throws: {
            ($0 as? OutboxError)?.code == .wrongKey && "\($0)".contains("\(needed)")
        }
        var rotated = configuration()
        rotated.keys = try keys(2, 1)
        let again = try await Outbox.open(at: dir, configuration: rotated, logger: quietLogger)
        try await again.append(secretMessage(1))
        try await again.close()
        #expect(try OutboxReader(path: dir, keys: try keys(2, 1)).messages().count == 2)
        #expect { try OutboxReader(path: dir, keys: try keys(1)).messages() } throws: { ($0 as? OutboxError)?.code == .wrongKey }
    }

    /// A frame is bound to its place: two frames of the same size swapped (their checksums made good
    /// again, as an attacker could) do not authenticate, and are reported as damage at their offset.
    @Test func aFrameMovedElsewhereFailsToDecrypt() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let config = try encrypted(1)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(secretMessage(1))
        try await outbox.append(secretMessage(2))
        try await outbox.close()
        let path = dir + "/" + (try segmentNames(dir)[0])
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try FileHeader.decode(Array(bytes[0..<FileHeader.size]), expecting: .segment)
        let a = FileHeader.size
        let length = Int(ByteReader.u32(bytes, at: a + 4))
        let b = a + FrameHeader.size + length
        #expect(Int(ByteReader.u32(bytes, at: b + 4)) == length, "two frames of one size")
        let bodyA = Array(bytes[(a + FrameHeader.size)..<b]), bodyB = Array(bytes[(b + FrameHeader.size)..<(b + FrameHeader.size + length)])
        let identity = FileIdentity(outboxID: header.outboxID, base: header.base)
        for (offset, body, first) in [(a, bodyB, UInt64(1)), (b, bodyA, UInt64(2))] {
            let tag = UInt16(ByteReader.u32(bytes, at: offset + 20) >> 16)
            let frame = FrameHeader.frame(kind: .messages, first: first, count: 1, body: body, identity: identity, offset: Int64(offset), tag: tag)
            bytes.replaceSubrange(offset..<(offset + frame.count), with: frame)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect { try OutboxReader(path: dir, keys: try keys(1)).messages() } throws: {
            ($0 as? OutboxError)?.code == .corrupt && "\($0)".contains("does not authenticate") && ($0 as? OutboxError)?.offset == Int64(a)
        }
    }

    /// The envelope binds outbox, file kind, base, offset, header and clear prefix: a change to any of
    /// them fails to open; each cipher round-trips.
    @Test func theEnvelopeBindsItsPlace() throws {
        let k = try keys(7)
        let place = Envelope.Place(outboxID: OutboxID.random(), kind: .segment, base: 5, offset: 64, file: "f")
        let header = FrameHeader(bodyLength: 100, first: 5, count: 2, kind: .messages, flags: 3)
        let records: [UInt8] = Array(repeating: 42, count: 67)
        for cipher in [Envelope.Cipher.aesGCM, .chaChaPoly] {
            let env = try Envelope.seal(records[...], keys: k, cipher: cipher, epoch: 9, place: place, header: header, prefix: [1, 2][...])
            #expect(env.count == records.count + Envelope.overhead)
            #expect(try Envelope.open(env[...], keys: k, place: place, header: header, prefix: [1, 2][...]) == records)
            var moved = place
            moved.offset = 128
            var other = place
            other.base = 6
            var dead = place
            dead.kind = .deadLetters
            var reheaded = header
            reheaded.first = 6
            for (p, h, prefix) in [(moved, header, [UInt8]([1, 2])), (other, header, [1, 2]), (dead, header, [1, 2]), (place, reheaded, [1, 2]),
                                   (place, header, [1, 3])] {
                #expect(throws: OutboxError.self) { try Envelope.open(env[...], keys: k, place: p, header: h, prefix: prefix[...]) }
            }
            var flipped = env
            flipped[20] ^= 1
            #expect { try Envelope.open(flipped[...], keys: k, place: place, header: header, prefix: [1, 2][...]) } throws: {
                ($0 as? OutboxError)?.code == .corrupt
            }
        }
    }

    /// A torn commit cut at open, then a commit written at the same offset: a new epoch, so no (key,
    /// nonce) pair is used for two different plaintexts; everything reads back.
    @Test func aRewrittenOffsetGetsANewEpoch() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = configuration()
        config.keys = try keys(1)
        var outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(secretMessage(1))
        try await outbox.append(secretMessage(2))
        try await outbox.close()
        let path = dir + "/" + (try segmentNames(dir)[0])
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let second = FileHeader.size + FrameHeader.size + Int(ByteReader.u32(bytes, at: FileHeader.size + 4))
        let epochBefore = Envelope.peek(bytes[(second + FrameHeader.size)...])!.epoch
        bytes.removeLast(5)  // the second commit torn: the crash came before its fdatasync returned,
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.removeItem(atPath: dir + "/writer.durable")  // so no durable mark names it
        outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(secretMessage(3))
        try await outbox.close()
        bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let epochAfter = Envelope.peek(bytes[(second + FrameHeader.size)...])!.epoch
        #expect(epochBefore != epochAfter, "the commit written again at offset \(second) has an epoch of its own")
        #expect(try OutboxReader(path: dir, keys: try keys(1)).messages().map(\.message.payload) == [secretMessage(1).payload, secretMessage(3).payload])
    }

    /// Appenders seal their commits at the place the writer expects (FORMAT.md §10, "sealing before
    /// queueing"): concurrent appends are written as sealed, in the order of their places; a commit
    /// sealed for a place it did not get (another took it) is sealed again by the writer under a new
    /// epoch, and every frame reads back. No two envelopes share a (key, epoch, offset).
    @Test func appendersSealTheirCommitsAtTheirPlaces() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = configuration()
        config.keys = try keys(1)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for p in 0..<8 { group.addTask { for i in 0..<25 { try await outbox.append(secretMessage(p * 100 + i)) } } }
            try await group.waitForAll()
        }
        #expect(outbox.sealedByAppenders > 100, "\(outbox.sealedByAppenders) of 200 commits were written as their appenders sealed them")
        // A place taken and never used: the next commits' places are off, and the writer seals them itself.
        let plan = outbox.sealPlanForTests
        _ = plan.reserve(frameLength: 500, count: 1)
        let before = outbox.sealedByAppenders
        try await outbox.append(secretMessage(900))
        try await outbox.append(secretMessage(901))
        #expect(outbox.sealedByAppenders <= before + 1)
        try await outbox.close()
        let read = try OutboxReader(path: dir, keys: try keys(1)).messages()
        #expect(read.count == 202 && Set(read.map(\.message.payload)).count == 202)
        var places = Set<String>()
        try OutboxReader(path: dir).forEachFrame(from: 1) { _, frame in
            let (_, k, epoch) = try #require(Envelope.peek(frame.body[...]))
            #expect(places.insert("\(k) \(epoch) \(frame.offset)").inserted)
            return true
        }
        #expect(try OutboxInspector.verify(path: dir, keys: try keys(1)).isClean)
    }

    /// Turning encryption on for a plain outbox: the plain segment stays (read without a key), new
    /// commits go to an encrypted one; verify without a key finds nothing wrong.
    @Test func turningItOnRollsToAnEncryptedSegment() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let plain = try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger)
        try await plain.append(secretMessage(1))
        try await plain.close()
        var config = configuration()
        config.keys = try keys(1)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(secretMessage(2))
        try await outbox.close()
        let names = try segmentNames(dir)
        #expect(names.count == 2)
        let headers = try names.map { try FileHeader.decode(Array(Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)).prefix(64)), expecting: .segment) }
        #expect(headers.map(\.encrypted) == [false, true])
        #expect(try OutboxReader(path: dir, keys: try keys(1)).messages().count == 2)
        #expect(try OutboxInspector.verify(path: dir).isClean, "without a key: the structure")
        #expect(try OutboxInspector.verify(path: dir, keys: try keys(1)).isClean)
    }

    /// A relay publishes an encrypted outbox's messages as they were appended: in process with the
    /// writer, and by path with its configuration's keys.
    @Test func theRelayPublishesWhatItDecrypts() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let config = try encrypted(1)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(contentsOf: (0..<20).map { secretMessage($0, lane: $0 % 4 == 0 ? .critical : .normal) })
        let sink = RecordingSink()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)
        try await running(relay) { try await eventually("published") { sink.published.count == 20 } }
        #expect(Set(sink.published.map(\.message.payload)) == Set((0..<20).map { secretMessage($0).payload }))
        try await outbox.append(contentsOf: (20..<30).map { secretMessage($0) })
        try await outbox.close()
        var byPath = relayConfiguration()
        byPath.keys = try keys(1)
        let sink2 = RecordingSink()
        let relay2 = OutboxRelay(path: dir, sink: sink2, configuration: byPath, logger: quietLogger)
        try await running(relay2) { try await eventually("published by path") { sink2.published.count == 10 } }
        #expect(sink2.published.map(\.message.payload) == (20..<30).map { secretMessage($0).payload })
    }

    /// Keys from files, the environment and a systemd credential: raw 32 bytes, hex, base64, several
    /// (the first is current); an empty, short, malformed or missing source is one line naming it and
    /// never its content.
    @Test func keysLoadFromEverySourceAndBadOnesAreOneLine() throws {
        let tmp = TemporaryDirectory()
        let raw = [UInt8](repeating: 0xAB, count: 32)
        let hex = raw.map { String(format: "%02x", $0) }.joined()
        let b64 = Data(raw).base64EncodedString()
        let other = [UInt8](repeating: 0xCD, count: 32).map { String(format: "%02x", $0) }.joined()
        func file(_ name: String, _ bytes: [UInt8]) throws -> String {
            let p = tmp.sub(name)
            try Data(bytes).write(to: URL(fileURLWithPath: p))
            return p
        }
        let expected = try OutboxKeys([raw]).current.id
        #expect(try OutboxKeys.load(file: try file("raw", raw)).current.id == expected)
        #expect(try OutboxKeys.load(file: try file("hex", Array((hex + "\n").utf8))).current.id == expected)
        #expect(try OutboxKeys.load(file: try file("b64", Array(("# a comment\n\n" + b64 + "\r\n").utf8))).current.id == expected)
        let two = try OutboxKeys.load(file: try file("two", Array((other + "\n" + hex + "\n").utf8)))
        #expect(two.keys.count == 2 && two.keys[1].id == expected && two.current.id != expected)
        #expect(try OutboxKeys.load(environment: "K", from: ["K": other + "," + hex]).keys.count == 2)
        try FileManager.default.createDirectory(atPath: tmp.sub("creds"), withIntermediateDirectories: true)
        _ = try file("creds/outbox-key", Array(hex.utf8))
        #expect(try OutboxKeys.load(credential: "outbox-key", from: ["CREDENTIALS_DIRECTORY": tmp.sub("creds")]).current.id == expected)
        #expect("\(two)".contains("\(expected)") && !"\(two)".contains(hex.prefix(16)))
        for (path, says) in [(try file("empty", []), "is empty (0 bytes)"), (try file("short", Array(hex.prefix(20).utf8)), "line 1 of key file"),
                             (try file("binary", [0xff, 0xfe, 0x00]), "not text"), (tmp.sub("missing"), "cannot be read"),
                             (try file("bad", Array(("\n" + hex + "\nnot a key\n").utf8)), "line 3 of key file")] {
            #expect { try OutboxKeys.load(file: path) } throws: { e in
                let text = "\(e)"
                return (e as? OutboxError)?.code == .invalidArgument && text.contains(says) && text.contains(path) && !text.contains(hex.prefix(16))
                    && !text.contains("\n")
            }
        }
        #expect { try OutboxKeys.load(environment: "NOPE", from: [:]) } throws: { "\($0)".contains("NOPE is not set") }
        #expect { try OutboxKeys.load(credential: "k", from: [:]) } throws: { "\($0)".contains("CREDENTIALS_DIRECTORY") }
    }

    /// Drop-oldest by lane rewrites segments that keep messages of a higher lane: the kept frames of an
    /// encrypted outbox are sealed again at their new offsets, so every kept message still reads back with
    /// the key, verify finds nothing wrong, and a relay publishes them all.
    @Test func dropOldestRewritesEncryptedSegmentsReadably() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var c = configuration()
        c.maxDiskBytes = 256 << 10
        c.onFull = .dropOldest
        c.keys = try keys(1)
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        let lanes: [OutboxLane] = [.bulk, .bulk, .critical, .bulk, .normal]
        for i in 0..<600 {
            try await outbox.append(contentsOf: (0..<5).map { j in secretMessage(i * 5 + j, lane: lanes[i % lanes.count]) })
        }
        try await outbox.close()
        let reader = try OutboxReader(path: dir, keys: try keys(1))
        let dropped = try reader.tombstones().dropped
        let kept = try reader.messages()
        #expect(!dropped.isEmpty, "the budget filled")
        #expect(kept.contains { $0.message.lane == .critical } && kept.allSatisfy { String(decoding: $0.message.payload, as: UTF8.self).hasPrefix("top secret") })
        #expect(UInt64(kept.count) + dropped.count(in: 1...3000) == 3000, "every number kept or dropped")
        #expect(try OutboxInspector.verify(path: dir, keys: try keys(1)).problems.filter { $0.kind != .leftoverFile }.isEmpty)
        var rc = relayConfiguration()
        rc.keys = try keys(1)
        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: rc, logger: quietLogger)) {
            try await eventually("every kept message delivered") { sink.published.count == kept.count }
        }
    }

    /// Damage in a sealed encrypted segment: with the key, quarantine keeps every intact message (sealed
    /// again in the copy) and the outbox reads on; without it, repair refuses with `missing-key` and
    /// changes no byte.
    @Test func quarantineAndRepairOfAnEncryptedSegmentNeedTheKey() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var c = configuration(segmentSize: 2048)
        c.keys = try keys(1)
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        for i in 0..<40 { try await outbox.append(secretMessage(i)) }
        try await outbox.close()
        let first = dir + "/" + (try segmentNames(dir)[0])
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: first)))
        let victimLength = Int(ByteReader.u32(bytes, at: FileHeader.size + 4))
        let second = FileHeader.size + FrameHeader.size + victimLength
        bytes[second + FrameHeader.size + Envelope.headerSize + 3] ^= 0x10  // the second frame's ciphertext
        try Data(bytes).write(to: URL(fileURLWithPath: first))
        await #expect { try await OutboxInspector.repair(path: dir, logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .missingKey }
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: first))) == bytes, "repair without the key changed nothing")
        var rc = relayConfiguration()
        rc.onDamage = .quarantine
        rc.keys = try keys(1)
        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: rc, logger: quietLogger)) {
            try await eventually("every intact message published") { sink.published.count == 39 }
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/quarantine/" + URL(fileURLWithPath: first).lastPathComponent))
        let read = try OutboxReader(path: dir, keys: try keys(1)).messages()
        #expect(read.map(\.seq) == [1] + Array(3...40), "every intact message, sealed again in the copy")
        #expect(read.allSatisfy { String(decoding: $0.message.payload, as: UTF8.self).hasPrefix("top secret") })
    }

    /// The tool: `--key-file` on append, dump, stats and verify; dump without the key exits non-zero
    /// with `missing-key` naming the key's id (not `corrupt`); verify without it exits 0 and says what it
    /// could not check; an empty key file is one line and a non-zero exit; the key never shows.
    @Test func theToolTakesAKeyFile() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let key = tmp.sub("key")
        let hex = String(repeating: "5a", count: 32)
        try (hex + "\n").write(toFile: key, atomically: true, encoding: .utf8)
        let id = try OutboxKeys.load(file: key).current.id
        #expect(try await runOutbox(["append", dir, "--count", "3", "--payload", "top secret text", "--key-file", key]).status == 0)
        let dumped = try await runOutbox(["dump", dir, "--json", "--payload", "text", "--key-file", key])
        #expect(dumped.status == 0 && dumped.stdout.split(separator: "\n").count == 3 && dumped.stdout.contains("top secret text"), "\(dumped.stderr)")
        let noKey = try await runOutbox(["dump", dir])
        #expect(noKey.status != 0 && noKey.stderr.contains("missing-key") && noKey.stderr.contains("\(id)") && !noKey.stderr.contains("corrupt")
                && noKey.stderr.split(separator: "\n").count == 1, "\(noKey.stderr)")
        let verify = try await runOutbox(["verify", dir])
        #expect(verify.status == 0 && verify.stdout.contains("not decrypted: 3 encrypted frame(s)") && verify.stdout.contains("\(id)"), "\(verify.stdout)")
        let verifyWithKey = try await runOutbox(["verify", dir, "--key-file", key])
        #expect(verifyWithKey.status == 0 && !verifyWithKey.stdout.contains("not decrypted"), "\(verifyWithKey.stdout)")
        #expect(try await runOutbox(["stats", dir, "--key-file", key]).status == 0)
        try Data().write(to: URL(fileURLWithPath: tmp.sub("empty")))
        let empty = try await runOutbox(["dump", dir, "--key-file", tmp.sub("empty")])
        #expect(empty.status == 78 && empty.stderr.contains("is empty (0 bytes)") && empty.stderr.split(separator: "\n").count == 1, "\(empty.stderr)")
        let appendNoKey = try await runOutbox(["append", dir, "--count", "1"])
        #expect(appendNoKey.status != 0 && appendNoKey.stderr.contains("missing-key"), "\(appendNoKey.stderr)")
        for r in [dumped, noKey, verify, verifyWithKey, empty, appendNoKey] { #expect(!(r.stdout + r.stderr).contains(hex)) }
    }

    /// A relay without the key (or with another one) stops at once with `missing-key` (or `wrong-key`),
    /// a misconfiguration, instead of running on publishing nothing until someone stops it (a route's
    /// failure stops the relay's other tasks).
    @Test func aRelayWithoutTheKeyStopsAtOnceNamingIt() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: try encrypted(1), logger: quietLogger)
        try await outbox.append(secretMessage(0))
        try await outbox.close()
        var wrong = relayConfiguration()
        wrong.keys = try keys(2)
        for (config, code) in [(relayConfiguration(), OutboxError.Code.missingKey), (wrong, .wrongKey)] {
            let relay = OutboxRelay(path: dir, sink: RecordingSink(), configuration: config, logger: quietLogger)
            let task = Task { try await relay.run() }
            let outcome = Shared<OutboxError.Code?>(nil)
            let watcher = Task {
                do { try await task.value } catch let e as OutboxError { outcome.set(e.code) }
            }
            try await eventually("the relay stopped with \(code)", timeout: .seconds(30)) { outcome.get() != nil }
            #expect(outcome.get() == code)
            task.cancel()
            _ = try? await watcher.value
        }
    }

    /// Dead letters of an encrypted outbox go into an encrypted dead-letter file (version 7): nothing of
    /// them in its bytes, listed with the key, `missing-key` without; a redrive republishes them.
    @Test func deadLettersAreEncryptedToo() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var config = configuration()
        config.keys = try keys(3)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        let rejecting = Shared(true)
        let sink = RecordingSink { m, _ in rejecting.get() ? .rejected("no") : .published }
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)
        try await running(relay) {
            let seq = try await outbox.append(secretMessage(7, lane: .critical))
            try await eventually("dead-lettered") { try OutboxReader(path: dir, keys: try keys(3)).deadLetters().map(\.seq) == [seq] }
            let letter = try #require(try OutboxReader(path: dir, keys: try keys(3)).deadLetters().first)
            #expect(letter.message.payload == secretMessage(7).payload && letter.message.lane == .critical)
            #expect { try OutboxReader(path: dir).deadLetters() } throws: { ($0 as? OutboxError)?.code == .missingKey }
            let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: dir + "/dead-letters.log")))
            #expect(try FileHeader.decode(Array(bytes[0..<64]), expecting: .deadLetters).encrypted)
            for text in ["top secret", "Reading", "outbox-dead-reason"] { #expect(!bytesContain(bytes, text), "\(text) in the dead-letter file") }
            rejecting.set(false)
            #expect(try OutboxReader(path: dir, keys: try keys(3)).requestRedrive() == [seq])
            try await eventually("republished") { sink.published.contains { $0.seq == seq } }
        }
        try await outbox.close()
        #expect(try OutboxInspector.verify(path: dir).isClean)
    }

    /// FORMAT.md §10 says enough: `scripts/format-decrypt.py`, a reader written from it alone in Python
    /// (with the `cryptography` package), decrypts every message frame (kinds 1 and 14, compressed
    /// payloads included) and every dead letter, and finds what the library wrote.
    @Test func anIndependentReaderDecryptsEveryFrame() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let keyFile = tmp.sub("key")
        try (String(repeating: "c3", count: 32) + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        var config = configuration(segmentSize: 4096)
        config.keys = try OutboxKeys.load(file: keyFile)
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        for i in 0..<30 {
            let big = i % 7 == 0 ? [UInt8](repeating: UInt8(i), count: 6000) : nil
            var m = secretMessage(i, lane: [.normal, .critical, .bulk, "camera-1"][i % 4])
            if let big { m.payload = big }
            if i % 5 == 0 { m.key = nil }
            try await outbox.append(contentsOf: i % 3 == 0 ? [m, secretMessage(100 + i)] : [m])
        }
        try await outbox.close()
        let reader = try OutboxReader(path: dir, keys: config.keys)
        let stored = try reader.messages()
        try DeadLetterLog.append(stored.prefix(2).map { DeadLetter(seq: $0.seq, message: $0.message, reason: "r", lastError: "e", attempts: 3,
                                                                  deadAtMicros: 5, redriven: false) },
                                 in: reader.directory, outboxID: reader.outboxID, maxRecordSize: 1 << 20)
        let run = try await runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Self.script, dir, keyFile])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let segments = lines.filter { ($0["file"] as? String)?.hasPrefix("segment-") == true }
        let letters = lines.filter { $0["file"] as? String == "dead-letters.log" }
        #expect(segments.count == stored.count && letters.count == 2)
        for (line, m) in zip(segments, stored) {
            let hex = m.message.payload.map { String(format: "%02x", $0) }.joined()
            #expect((line["seq"] as? NSNumber)?.uint64Value == m.seq && line["type"] as? String == m.message.type
                    && line["key"] as? String == m.message.key && line["lane"] as? String == m.message.lane.name && line["payload"] as? String == hex,
                    "message \(m.seq) as the independent reader decrypted it: \(line)")
        }
        #expect(letters.map { $0["payload"] as? String } == stored.prefix(2).map { m in m.message.payload.map { String(format: "%02x", $0) }.joined() })
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/format-decrypt.py").path
}
