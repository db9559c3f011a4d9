import Foundation
import Testing
@testable import Outbox

@Suite("Format codecs")
struct CodecTests {
    @Test func crcMatchesTheStandardCheckValue() {
        #expect(CRC32.of(Array("123456789".utf8)) == 0xCBF4_3926)
        let a = Array("hello ".utf8), b = Array("world".utf8)
        #expect(CRC32.combine(CRC32.of(a), CRC32.of(b), lengthOfB: b.count) == CRC32.of(a + b))
    }

    @Test func everyMessageFieldRoundTrips() throws {
        let messages = [
            OutboxMessage(id: .v7(), type: "UserRegistered", key: "user-42",
                          headers: [.init("b", "2"), .init("a", "1"), .init("a", "again"), .init("ünï", "ç😀")],
                          payload: Array("{\"id\":42}".utf8), createdAt: Date(timeIntervalSince1970: 1_790_000_000.123456)),
            OutboxMessage(type: "", key: nil, headers: [], payload: []),
            OutboxMessage(type: "Big", key: "", payload: [UInt8](repeating: 7, count: 100_000)),
            OutboxMessage(type: "Random", payload: (0..<5000).map { _ in UInt8.random(in: 0...255) }),
        ]
        let body = try MessageCodec.encode(messages, compressionThreshold: 4096, maxBody: 4 << 20)
        let decoded = try MessageCodec.decode(body, count: messages.count, maxBody: 4 << 20)
        #expect(decoded.map(\.message) == messages)
        #expect(decoded.map(\.compressed) == [false, false, true, false])
        #expect(body.count < 100_000, "the repetitive payload was compressed")
    }

    /// A frame's records that repeat types and keys (the decoder shares repeated texts, keeping keys in
    /// a small table by a hash of their bytes) decode to exactly what was encoded: keys that share a
    /// slot, a length or a prefix, empty ones, long ones and invalid UTF-8 where a text repeats.
    @Test func repeatedTypesAndKeysDecodeExactly() throws {
        let seed = testSeed("codecRepeats")
        var g = SeededGenerator(seed: seed)
        let types = ["UserRegistered", "UserRegistere", "A", "", "OrderPlaced-with-a-long-type-name-é"]
        let keys: [String?] = [nil, "", "user-1", "user-2", "user-10", "user-1 ", "k", "ü", "a-key-longer-than-fifteen-bytes-0", "a-key-longer-than-fifteen-bytes-1"]
            + (0..<200).map { "key-\($0)" }
        for _ in 0..<200 {
            let messages = (0..<Int.random(in: 1...60, using: &g)).map { _ in
                OutboxMessage(type: types.randomElement(using: &g)!, key: keys.randomElement(using: &g)!, payload: [1, 2, 3])
            }
            let body = try MessageCodec.encode(messages, compressionThreshold: nil, maxBody: 4 << 20)
            #expect(try MessageCodec.decode(body, count: messages.count, maxBody: 4 << 20).map(\.message) == messages, "seed \(seed)")
        }
        // A key that repeats the previous one's bytes up to a byte that is not UTF-8 is refused, not shared.
        let two = [OutboxMessage(type: "T", key: "ab", payload: []), OutboxMessage(type: "T", key: "ab", payload: [])]
        var body = try MessageCodec.encode(two, compressionThreshold: nil, maxBody: 4 << 20)
        // The second record starts halfway; its key's second byte follows length, id, time, flags,
        // reserved byte, header count, the type and the key length (FORMAT.md §4).
        let at = body.count / 2 + 4 + 16 + 8 + 1 + 1 + 2 + 2 + 1 + 2 + 1
        #expect(body[at] == UInt8(ascii: "b"))
        body[at] = 0xFF
        #expect(throws: DecodeError.self) { try MessageCodec.decode(body, count: 2, maxBody: 4 << 20) }
    }

    @Test func uuidV7HasVersionAndVariant() {
        let id = MessageID.v7()
        let b = id.bytes
        #expect(b[6] >> 4 == 7)
        #expect(b[8] >> 6 == 2)
        #expect(MessageID(id.description) == id)
    }

    /// The hand-written hex form is Foundation's, lower-cased; bytes go in and out unchanged; ids made
    /// a millisecond apart sort by time.
    @Test func messageIDsPrintAndCopyExactly() {
        for _ in 0..<2000 {
            let id = MessageID(UUID())
            #expect(id.description == id.uuid.uuidString.lowercased())
            #expect(MessageID(bytes: ([0xAA] + id.bytes + [0xBB])[1...16]) == id)
        }
        let earlier = MessageID.v7(now: Date(timeIntervalSince1970: 1_800_000_000))
        let later = MessageID.v7(now: Date(timeIntervalSince1970: 1_800_000_000.002))
        #expect(earlier.bytes.lexicographicallyPrecedes(later.bytes))
    }

    /// Ids made at once on several threads, from the shared random pool, are all different, including
    /// their random parts alone.
    @Test func concurrentIDsNeverRepeat() async {
        let now = Date()
        let ids = await withTaskGroup(of: [MessageID].self) { group in
            for _ in 0..<4 { group.addTask { (0..<50_000).map { _ in MessageID.v7(now: now) } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(ids).count == 200_000)
        #expect(Set(ids.map { $0.bytes[6...] }).count == 200_000, "the same millisecond, so the random bits differ")
    }

    @Test func truncatedOrPaddedBodiesAreRejected() throws {
        let body = try MessageCodec.encode([sampleMessage(1), sampleMessage(2)], compressionThreshold: nil, maxBody: 1 << 20)
        for cut in 0..<body.count {
            #expect(throws: DecodeError.self) { try MessageCodec.decode(Array(body[0..<cut]), count: 2, maxBody: 1 << 20) }
        }
        #expect(throws: DecodeError.self) { try MessageCodec.decode(body + [0], count: 2, maxBody: 1 << 20) }
        #expect(throws: DecodeError.self) { try MessageCodec.decode(body, count: 3, maxBody: 1 << 20) }
    }

    @Test func oversizeCommitIsRefused() {
        #expect {
            try MessageCodec.encode([OutboxMessage(type: "T", payload: [UInt8](repeating: 1, count: 2000))],
                                    compressionThreshold: nil, maxBody: 1000)
        } throws: { ($0 as? OutboxError)?.code == .recordTooLarge }
    }

    @Test func fileHeaderRoundTripsAndRefusesUnknownVersions() throws {
        let h = FileHeader(kind: .segment, outboxID: .random(), base: 77, maxRecordSize: 1 << 20, createdAtMicros: 123)
        let bytes = h.encode()
        #expect(bytes.count == 64)
        #expect(try FileHeader.decode(bytes, expecting: .segment) == h)
        #expect(throws: DecodeError.self) { try FileHeader.decode(bytes, expecting: .tombstones) }
        func withVersion(_ v: UInt8) -> [UInt8] {
            var b = bytes
            b[8] = v
            let crc = CRC32.of(b[0..<60])
            b.replaceSubrange(60..<64, with: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
            return b
        }
        // Versions 1 to 5 (written by older builds) are still read, and keep their version when re-encoded.
        for v: UInt8 in [1, 2, 3, 4, 5] {
            let old = try FileHeader.decode(withVersion(v), expecting: .segment)
            #expect(old.version == UInt16(v) && old.encode() == withVersion(v))
        }
        #expect(FileHeader.currentVersion == 8)
        #expect { try FileHeader.decode(withVersion(9), expecting: .segment) } throws: {
            ($0 as? DecodeError)?.reason.hasPrefix("unsupported format version 9") == true
        }
        // Version 7 is an encrypted file's (FORMAT.md §10): its header has flag bit 0, and only then.
        #expect { try FileHeader.decode(withVersion(7), expecting: .segment) } throws: {
            ($0 as? DecodeError)?.reason.contains("without the encryption flag") == true
        }
        var encrypted = try FileHeader.decode(withVersion(6), expecting: .segment).encrypting()
        #expect(try FileHeader.decode(encrypted.encode(), expecting: .segment) == encrypted && encrypted.version == 7)
        encrypted.version = 6
        #expect { try FileHeader.decode(encrypted.encode(), expecting: .segment) } throws: { ($0 as? DecodeError)?.reason.contains("flags 1") == true }
    }

    @Test func tombstoneRangesRoundTrip() throws {
        let seed = testSeed("tombstoneRangesRoundTrip")
        var g = SeededGenerator(seed: seed)
        for _ in 0..<200 {
            var set = SequenceRangeSet()
            for _ in 0..<Int.random(in: 1...50, using: &g) {
                let lo = UInt64.random(in: 1...10_000, using: &g)
                set.insert(lo...(lo + UInt64.random(in: 0...20, using: &g)))
            }
            let body = TombstoneCodec.encode(set.ranges[...])
            let back = try TombstoneCodec.decode(body, count: set.ranges.count, first: set.ranges[0].lowerBound)
            #expect(back == set.ranges)
        }
    }

    @Test func rangeSetAgreesWithASetModel() {
        let seed = testSeed("rangeSetAgreesWithASetModel")
        var g = SeededGenerator(seed: seed)
        for _ in 0..<100 {
            var model = Set<UInt64>()
            var set = SequenceRangeSet()
            for _ in 0..<Int.random(in: 1...60, using: &g) {
                let lo = UInt64.random(in: 1...300, using: &g)
                let hi = lo + UInt64.random(in: 0...10, using: &g)
                set.insert(lo...hi)
                model.formUnion(lo...hi)
            }
            #expect(set.count == UInt64(model.count))
            for s in UInt64(0)...320 { #expect(set.contains(s) == model.contains(s), "seq \(s) seed \(seed)") }
            for (a, b) in zip(set.ranges, set.ranges.dropFirst()) { #expect(a.upperBound + 1 < b.lowerBound) }
            let from = UInt64.random(in: 1...300, using: &g)
            var expected = from
            while model.contains(expected) { expected += 1 }
            #expect(set.firstMissing(from: from) == expected)
        }
    }
}

@Suite("Deflate")
struct DeflateTests {
    /// FORMAT.md §4: the zlib stream ends exactly at the end of the stored payload; bytes after it are damage.
    @Test func bytesAfterTheEndOfTheStreamAreRefused() throws {
        let original = Array(repeating: UInt8(ascii: "a"), count: 5000)
        let compressed = try #require(Deflate.compress(original))
        #expect(Deflate.decompress(compressed[...], expectedLength: original.count) == original)
        #expect(Deflate.decompress((compressed + [0, 1, 2])[...], expectedLength: original.count) == nil)
        #expect(Deflate.decompress(compressed.dropLast(1), expectedLength: original.count) == nil)
    }

    /// Route frames (FORMAT.md §5c) decode to what was encoded, and refuse what they must.
    @Test func routeFramesRoundTripAndRefuseBadNames() throws {
        let body = RouteTombstoneCodec.encodeRanges(route: "cloud-1", status: .dead, [3...5, 9...9])
        let decoded = try RouteTombstoneCodec.decodeRanges(body, count: 2, first: 3)
        #expect(decoded.route == "cloud-1" && decoded.status == .dead && decoded.ranges == [3...5, 9...9])
        #expect(try RouteTombstoneCodec.decodeStart(RouteTombstoneCodec.encodeStart(route: "a.b_c")) == "a.b_c")
        #expect(RouteTombstoneCodec.nameProblem("") != nil && RouteTombstoneCodec.nameProblem("a b") != nil)
        #expect(RouteTombstoneCodec.nameProblem(String(repeating: "x", count: 65)) != nil && RouteTombstoneCodec.nameProblem("ok") == nil)
        var badStatus = body
        badStatus[0] = 1
        #expect(throws: DecodeError.self) { try RouteTombstoneCodec.decodeRanges(badStatus, count: 2, first: 3) }
        #expect(throws: DecodeError.self) { try RouteTombstoneCodec.decodeRanges(Array(body.prefix(5)), count: 2, first: 3) }
        #expect(throws: DecodeError.self) { try RouteTombstoneCodec.decodeStart([3, 0x61, 0x20, 0x62]) }
        #expect(throws: DecodeError.self) { try RouteTombstoneCodec.decodeStart([0]) }
        // In the dead-letter file the same frame is a route's redrive mark (§5a): statuses 5 and 7 there,
        // and only there.
        let mark = RouteTombstoneCodec.encodeRanges(route: "cloud-1", status: .redriveRequested, [4...4])
        #expect(try RouteTombstoneCodec.decodeRanges(mark, count: 1, first: 4, statuses: RouteTombstoneCodec.marks).status == .redriveRequested)
        #expect(throws: DecodeError.self) { try RouteTombstoneCodec.decodeRanges(mark, count: 1, first: 4) }
        #expect(throws: DecodeError.self) { try RouteTombstoneCodec.decodeRanges(body, count: 2, first: 3, statuses: RouteTombstoneCodec.marks) }
    }
}
