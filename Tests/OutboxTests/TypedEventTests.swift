import Foundation
import Testing
@testable import Outbox

/// Version 2 of an event: what the app appends now.
struct OrderPlaced: OutboxEvent, Equatable {
    static let eventType = "com.example.order.placed"
    static let schemaVersion = 2
    var orderID: String
    var cents: Int
    var placedAt: Date
    var outboxKey: String? { orderID }
}

/// Version 1 of the same event, as the app's previous release appended it.
struct OrderPlacedV1: OutboxEvent, Equatable {
    static let eventType = "com.example.order.placed"
    var orderID: String
    var euros: Double
}

/// An event whose encoding always fails.
struct Unencodable: OutboxEvent {
    struct Refused: Error, CustomStringConvertible { var description: String { "the encoder refused it" } }
    func encode(to encoder: any Encoder) throws { throw Refused() }
    init() {}
    init(from decoder: any Decoder) throws {}
}

@Suite("Typed events")
struct TypedEventTests {
    let placedAt = Date(timeIntervalSince1970: 1_780_000_000)

    /// Typed events append and decode back; each message states the event's type, schema version, key
    /// (from the event), and the coder's content type.
    @Test func typedEventsRoundTrip() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger)
        let one = OrderPlaced(orderID: "o-1", cents: 1250, placedAt: placedAt)
        let batch = (2...4).map { OrderPlaced(orderID: "o-\($0)", cents: $0 * 100, placedAt: placedAt) }
        #expect(try await outbox.append(one) == 1)
        #expect(try await outbox.append(contentsOf: batch, headers: [.init("tenant", "t1")]) == 2...4)
        #expect(try await outbox.append(one, key: "other", lane: .critical) == 5)
        try await outbox.close()

        let stored = try OutboxReader(path: dir).messages()
        #expect(try stored.map { try $0.decode(as: OrderPlaced.self) } == [one] + batch + [one])
        #expect(stored.allSatisfy { $0.message.type == "com.example.order.placed" && $0.message.schemaVersion == 2 })
        #expect(stored.map(\.message.key) == ["o-1", "o-2", "o-3", "o-4", "other"])
        #expect(stored[1].message.headers == [.init("tenant", "t1"), .init("content-type", "application/json")])
        #expect(stored[4].message.lane == .critical)
        // JSON in declaration order with RFC 3339 dates: what a consumer in any language reads.
        #expect(String(decoding: stored[0].message.payload, as: UTF8.self)
                == #"{"orderID":"o-1","cents":1250,"placedAt":"2026-05-28T20:26:40Z"}"#)
    }

    /// A backlog the app's previous release wrote (schema version 1) decodes after an update only through
    /// an upgrade registered from that version; a version newer than the app's, another type and a payload
    /// that does not decode are refused with `event-decoding`, naming what.
    @Test func anOlderSchemaVersionDecodesThroughItsUpgrade() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger)
        try await outbox.append(OrderPlacedV1(orderID: "o-1", euros: 12.5))  // release 1
        try await outbox.append(OrderPlaced(orderID: "o-2", cents: 300, placedAt: placedAt))  // release 2
        try await outbox.append(OutboxMessage(type: OrderPlaced.eventType, payload: Array("{}".utf8), schemaVersion: 3))
        try await outbox.append(OutboxMessage(type: "com.example.order.cancelled", payload: Array("{}".utf8)))
        try await outbox.append(OutboxMessage(type: OrderPlaced.eventType, payload: Array("{\"orderID\": 5}".utf8), schemaVersion: 2))
        try await outbox.close()
        let stored = try OutboxReader(path: dir).messages()
        #expect(stored[0].message.schemaVersion == 1)

        func code(_ body: () throws -> Any) -> (String, String)? {
            do { _ = try body() } catch let e as OutboxError { return (e.code.rawValue, e.message) } catch { return ("other", "\(error)") }
            return nil
        }
        let none = code { try stored[0].decode(as: OrderPlaced.self) }
        #expect(none?.0 == "event-decoding" && none?.1.contains("schema version 1") == true && none?.1.contains("no upgrade") == true, "\(String(describing: none))")

        var upgrades = OutboxEventUpgrades()
        upgrades.register(OrderPlaced.self, from: 1, decoding: OrderPlacedV1.self) { old in
            OrderPlaced(orderID: old.orderID, cents: Int((old.euros * 100).rounded()), placedAt: Date(timeIntervalSince1970: 0))
        }
        #expect(upgrades.versions(of: OrderPlaced.eventType) == [1])
        #expect(try stored[0].decode(as: OrderPlaced.self, upgrades: upgrades) == OrderPlaced(orderID: "o-1", cents: 1250, placedAt: Date(timeIntervalSince1970: 0)))
        #expect(try stored[1].decode(as: OrderPlaced.self, upgrades: upgrades) == OrderPlaced(orderID: "o-2", cents: 300, placedAt: placedAt))
        // Release 1 still reads its own version, and not release 2's.
        #expect(try stored[0].decode(as: OrderPlacedV1.self) == OrderPlacedV1(orderID: "o-1", euros: 12.5))
        let newer = code { try stored[1].decode(as: OrderPlacedV1.self) }
        #expect(newer?.0 == "event-decoding" && newer?.1.contains("newer than the 1 this app decodes") == true, "\(String(describing: newer))")
        let future = code { try stored[2].decode(as: OrderPlaced.self, upgrades: upgrades) }
        #expect(future?.0 == "event-decoding" && future?.1.contains("schema version 3") == true, "\(String(describing: future))")
        let other = code { try stored[3].decode(as: OrderPlaced.self) }
        #expect(other?.0 == "event-decoding" && other?.1.contains("com.example.order.cancelled") == true, "\(String(describing: other))")
        let bad = code { try stored[4].decode(as: OrderPlaced.self) }
        #expect(bad?.0 == "event-decoding" && bad?.1.contains("does not decode") == true, "\(String(describing: bad))")
    }

    /// An event the coder cannot encode is refused with `event-encoding` before anything is written,
    /// alone or in a commit with others.
    @Test func anEventThatDoesNotEncodeAppendsNothing() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger)
        for attempt in 0..<2 {
            do {
                if attempt == 0 { try await outbox.append(Unencodable()) } else { try await outbox.append(contentsOf: [Unencodable(), Unencodable()]) }
                Issue.record("an event that does not encode was appended")
            } catch let e as OutboxError {
                #expect(e.code == .eventEncoding && e.message.contains("Unencodable") && e.message.contains("the encoder refused it"), "\(e)")
            }
        }
        try await outbox.append(OrderPlacedV1(orderID: "o", euros: 1))
        try await outbox.close()
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == [1])
    }

    /// The coder's own JSON encoder writes what Foundation's `JSONEncoder` writes (the same JSON value, read
    /// back by `JSONDecoder` as the same event) for nested structs, arrays, optionals, enums, dates, data,
    /// URLs, numbers and text that needs escapes; a dictionary, a super encoder and a container written to
    /// out of order are left to `JSONEncoder`.
    @Test func theCodersJSONIsFoundationsJSON() throws {
        enum Colour: String, Codable, Equatable { case red, green }
        struct Inner: Codable, Equatable { var id: Int; var tags: [String]; var colour: Colour?; var ratio: Double }
        struct Event: OutboxEvent, Equatable {
            var text: String
            var when: Date
            var blob: Data
            var link: URL
            var inner: Inner
            var list: [Inner]
            var maybe: Int?
            var flag: Bool
            var big: UInt64
            var small: Int8
            var matrix: [[Double]]
            var map: [String: Int]?
        }
        /// Writes a member after opening a nested container for another: out of order.
        struct OutOfOrder: OutboxEvent, Equatable {
            var a: Int
            var b: Int
            enum CodingKeys: String, CodingKey { case a, b, nested }
            enum NestedKeys: String, CodingKey { case x }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                var nested = c.nestedContainer(keyedBy: NestedKeys.self, forKey: .nested)
                try c.encode(a, forKey: .a)
                try nested.encode(b, forKey: .x)
                try c.encode(b, forKey: .b)
            }
            init(a: Int, b: Int) { (self.a, self.b) = (a, b) }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                (a, b) = (try c.decode(Int.self, forKey: .a), try c.decode(Int.self, forKey: .b))
            }
        }
        let inner = Inner(id: 7, tags: ["a", "b\"c", "ünï\n\u{1}"], colour: .green, ratio: 0.1)
        let events = [
            Event(text: "say \"hi\"\\ / \t", when: Date(timeIntervalSince1970: 1_780_000_000), blob: Data([0, 1, 255]),
                  link: URL(string: "https://example.com/a?b=c")!, inner: inner, list: [inner, Inner(id: -3, tags: [], colour: nil, ratio: 2.5e-7)],
                  maybe: nil, flag: true, big: UInt64.max, small: -8, matrix: [[1, 2.5], [], [-0.0, 1e300]], map: nil),
            Event(text: "", when: Date(timeIntervalSince1970: 0), blob: Data(), link: URL(string: "file:///tmp/x")!, inner: inner, list: [],
                  maybe: 42, flag: false, big: 0, small: 127, matrix: [], map: ["z": 1, "a": 2]),
            Event(text: "ü", when: Date(timeIntervalSince1970: -1), blob: Data(), link: URL(string: "x:y")!, inner: inner, list: [],
                  maybe: 0, flag: true, big: 1, small: -128, matrix: [[]], map: [:]),
        ]
        let foundation = JSONEncoder()
        foundation.dateEncodingStrategy = .iso8601
        let coder = JSONEventCoder()
        for event in events {
            let ours = try coder.encode(event)
            let theirs = try foundation.encode(event)
            let a = try JSONSerialization.jsonObject(with: Data(ours)) as? NSDictionary
            let b = try JSONSerialization.jsonObject(with: theirs) as? NSDictionary
            #expect(a != nil && a == b, "\(String(decoding: ours, as: UTF8.self))\n\(String(decoding: theirs, as: UTF8.self))")
            #expect(try coder.decode(Event.self, from: ours) == event)
        }
        #expect(throws: JSONBytesEncoder.Unsupported.self) { try JSONBytesEncoder.encode(events[1]) }  // its dictionary
        #expect(throws: JSONBytesEncoder.Unsupported.self) { try JSONBytesEncoder.encode([[3: "c", 1: "a"]]) }
        #expect(try JSONBytesEncoder.encode([[String: Int]()]) == Array("[{}]".utf8))  // the same either way
        #expect(throws: JSONBytesEncoder.Unsupported.self) { try JSONBytesEncoder.encode(OutOfOrder(a: 1, b: 2)) }
        let outOfOrder = try coder.encode(OutOfOrder(a: 1, b: 2))
        #expect(try JSONSerialization.jsonObject(with: Data(outOfOrder)) as? NSDictionary == ["a": 1, "b": 2, "nested": ["x": 2]] as NSDictionary)
    }

    /// Every commit stores the clock it was appended by (FORMAT.md §4c): the wall clock (also the
    /// messages' creation time), the boot and the time since boot; the schema version survives a dead
    /// letter (in its own header) and the messages of a version-6 file have neither.
    @Test func commitsStoreTheirClockAndDeadLettersTheirSchemaVersion() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let boot = UUID()
        let reading = ClockReading(wallMicros: 1_780_000_000_123_456, bootID: boot, bootMicros: 42_000_000, wallSynchronized: true)
        var config = configuration()
        config.clock = OutboxClock { reading }
        let outbox = try await Outbox.open(at: dir, configuration: config, logger: quietLogger)
        try await outbox.append(OrderPlaced(orderID: "o-1", cents: 1, placedAt: placedAt))
        try await outbox.append(contentsOf: [OutboxMessage(type: "T", payload: [1], lane: .bulk), OutboxMessage(type: "T", payload: [2])])
        try await outbox.close()
        let reader = try OutboxReader(path: dir)
        let stored = try reader.messages()
        #expect(stored.count == 3 && stored.allSatisfy { $0.commitClock == reading && $0.message.createdAtMicros == reading.wallMicros })

        try DeadLetterLog.append([DeadLetter(seq: 1, message: stored[0].message, reason: "r", lastError: "e", attempts: 1, deadAtMicros: 5, redriven: false)],
                                 in: reader.directory, outboxID: reader.outboxID, maxRecordSize: 1 << 20)
        let letter = try #require(try DeadLetterLog.list(in: reader.directory, outboxID: reader.outboxID).first)
        #expect(letter.message == stored[0].message && letter.message.schemaVersion == 2)

        let fixture = try #require(Fixture.all.first { $0.name == "v6-valid" })
        let old = try OutboxReader(path: fixture.directory).messages()
        #expect(!old.isEmpty && old.allSatisfy { $0.commitClock == nil && $0.message.schemaVersion == nil })
    }

    /// A clock of a commit that does not follow FORMAT.md §4c (unknown flags, a negative time since boot)
    /// is damage, named at its frame.
    @Test func aCommitClockThatIsNotOneIsDamage() throws {
        let reading = ClockReading(wallMicros: 1, bootID: UUID(), bootMicros: 7, wallSynchronized: false)
        let body = try MessageCodec.encode([OutboxMessage(type: "T", payload: [1])], compressionThreshold: nil, maxBody: 1 << 20, clock: reading)
        #expect(try MessageCodec.decodeClock(body, at: 0) == reading)
        func problem(_ body: [UInt8]) -> String? {
            FrameContent.problem(FrameHeader(bodyLength: UInt32(body.count), first: 1, count: 1, kind: .messages, flags: 1), body,
                                 in: .segment, version: 8, encrypted: false, maxBody: 1 << 20)
        }
        #expect(problem(body) == nil)
        var flags = body
        flags[32] = 2
        #expect(problem(flags)?.contains("unknown clock flags") == true)
        var negative = body
        for i in 24..<32 { negative[i] = 0xFF }
        #expect(problem(negative)?.contains("negative time since boot") == true)
        // A version-6 segment's body has no clock: the same records without it, and no schema version flag.
        let plain = try MessageCodec.encode([OutboxMessage(type: "T", payload: [1], schemaVersion: 4)], compressionThreshold: nil, maxBody: 1 << 20)
        #expect(FrameContent.problem(FrameHeader(bodyLength: UInt32(plain.count), first: 1, count: 1, kind: .messages, flags: 1), plain,
                                     in: .segment, version: 6, encrypted: false, maxBody: 1 << 20) == nil)
        var flagged = plain
        flagged[4 + 16 + 8] |= MessageCodec.schemaFlag
        #expect(FrameContent.problem(FrameHeader(bodyLength: UInt32(flagged.count), first: 1, count: 1, kind: .messages, flags: 1), flagged,
                                     in: .segment, version: 6, encrypted: false, maxBody: 1 << 20)?.contains("unknown record flags") == true)
    }
}
