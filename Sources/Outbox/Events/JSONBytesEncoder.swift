import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A JSON encoder for ``JSONEventCoder`` that writes straight into bytes, in the order a value encodes its
/// members (for synthesized `Codable`, the order the properties are declared): several times faster than
/// Foundation's `JSONEncoder`, which every append of a typed event would pay.
///
/// It takes what `Codable` types usually do, one value after another: strings, numbers, booleans, nil,
/// nested structs and arrays, `Date` (RFC 3339, whole seconds, as `JSONEncoder`'s `.iso8601`), `Data`
/// (base64) and `URL` (its text). Anything else (a dictionary, whose order would change from run to run; a
/// container written to after a later one was opened; a super encoder; a number JSON cannot hold) throws
/// ``Unsupported``, and the caller encodes the value with `JSONEncoder` instead.
enum JSONBytesEncoder {
    /// The value asks for something this encoder leaves to `JSONEncoder`.
    struct Unsupported: Error {}

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = Writer()
        try writer.value(value)
        guard writer.depth == 0 else { throw Unsupported() }
        return writer.out
    }

    /// The bytes, and the containers open in them (innermost last).
    ///
    /// Its state lives behind a pointer: a class's stored properties are checked for exclusive access at
    /// run time on every write, which cost about a fifth of the encoder's time.
    final class Writer: Encoder {
        private struct State {
            var out: [UInt8] = []
            var refuses = false
            var open: [(id: Int, object: Bool, members: Bool)] = []
            var nextID = 0
            var nesting = 0
        }

        private let state: UnsafeMutablePointer<State>

        /// The JSON written so far.
        var out: [UInt8] {
            get { state.pointee.out }
            _modify { yield &state.pointee.out }
        }
        /// A super encoder's writer: every write is left to JSONEncoder.
        var refuses: Bool {
            get { state.pointee.refuses }
            set { state.pointee.refuses = newValue }
        }
        /// Per open container: its id, whether it is an object, whether a member was written.
        private var open: [(id: Int, object: Bool, members: Bool)] {
            get { state.pointee.open }
            _modify { yield &state.pointee.open }
        }
        private var nextID: Int {
            get { state.pointee.nextID }
            set { state.pointee.nextID = newValue }
        }
        /// How many values are being encoded inside one another.
        private var nesting: Int {
            get { state.pointee.nesting }
            set { state.pointee.nesting = newValue }
        }
        var depth: Int { open.count }

        init() {
            state = .allocate(capacity: 1)
            state.initialize(to: State())
            state.pointee.out.reserveCapacity(128)
        }

        deinit {
            state.deinitialize(count: 1)
            state.deallocate()
        }

        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        /// Encodes one value where a value goes; closes the containers it opened.
        func value<T: Encodable>(_ value: T) throws {
            guard !refuses else { throw Unsupported() }
            // Metatypes compared, not values cast: a failed dynamic cast costs more than the rest of a member.
            if let written = try primitive(value) { return written }
            switch T.self {
            case is Date.Type: try date(unsafeBitCast(value, to: Date.self))
            case is Data.Type: string(unsafeBitCast(value, to: Data.self).base64EncodedString())
            case is URL.Type: string(unsafeBitCast(value, to: URL.self).absoluteString)
            case is Decimal.Type: throw Unsupported()
            default:
                if T.self is any DictionaryMarker.Type { throw Unsupported() }
                // A type that encodes itself into a single value of its own type would never end.
                nesting += 1
                defer { nesting -= 1 }
                guard nesting < 256 else { throw Unsupported() }
                let (before, written) = (open.count, out.count)
                try value.encode(to: self)
                while open.count > before { close() }
                if out.count == written { out += Array("{}".utf8) }  // a value that wrote nothing, as JSONEncoder writes it
            }
        }

        /// Writes `value` if it is of a type JSON writes as it is (text, a number, a boolean), found by its
        /// metatype; nil otherwise.
        @inline(__always)
        private func primitive<T>(_ value: T) throws -> Void? {
            if T.self == String.self { return string(unsafeBitCast(value, to: String.self)) }
            if T.self == Int.self { return integer(unsafeBitCast(value, to: Int.self)) }
            if T.self == Bool.self { return bool(unsafeBitCast(value, to: Bool.self)) }
            if T.self == Double.self { return try double(unsafeBitCast(value, to: Double.self)) }
            if T.self == Float.self { return try double(Double(unsafeBitCast(value, to: Float.self))) }
            if T.self == Int64.self { return integer(unsafeBitCast(value, to: Int64.self)) }
            if T.self == Int32.self { return integer(unsafeBitCast(value, to: Int32.self)) }
            if T.self == Int16.self { return integer(unsafeBitCast(value, to: Int16.self)) }
            if T.self == Int8.self { return integer(unsafeBitCast(value, to: Int8.self)) }
            if T.self == UInt.self { return integer(unsafeBitCast(value, to: UInt.self)) }
            if T.self == UInt64.self { return integer(unsafeBitCast(value, to: UInt64.self)) }
            if T.self == UInt32.self { return integer(unsafeBitCast(value, to: UInt32.self)) }
            if T.self == UInt16.self { return integer(unsafeBitCast(value, to: UInt16.self)) }
            if T.self == UInt8.self { return integer(unsafeBitCast(value, to: UInt8.self)) }
            return nil
        }

        /// Opens a container (its opening bracket written); returns its id.
        func begin(object: Bool) -> Int {
            out.append(object ? UInt8(ascii: "{") : UInt8(ascii: "["))
            nextID += 1
            open.append((nextID, object, false))
            return nextID
        }

        /// Closes the innermost container.
        func close() {
            let c = open.removeLast()
            out.append(c.object ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }

        /// Starts a member of container `id` (a key, for an object): the containers a previous member
        /// opened inside it are closed first; writing to a container that is not open, or under one opened
        /// later that is still in use, is left to JSONEncoder.
        func member(of id: Int, key: String?) throws {
            guard !refuses, let i = open.lastIndex(where: { $0.id == id }) else { throw Unsupported() }
            while open.count > i + 1 { close() }
            let first = !open[i].members
            open[i].members = true
            Self.append(member: key, first: first, to: &out)
        }

        private static func append(member key: String?, first: Bool, to out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            if let key {
                append(string: key, to: &out)
                out.append(UInt8(ascii: ":"))
            }
        }

        func string(_ s: String) { Self.append(string: s, to: &out) }

        /// Appends `s` as a JSON string literal (one access to the writer's bytes, not one per piece).
        static func append(string s: String, to out: inout [UInt8]) {
            out.append(jsonQuote)
            var s = s
            s.withUTF8 { utf8 in
                var start = 0
                for (i, b) in utf8.enumerated() where b < 0x20 || b == jsonQuote || b == jsonBackslash {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                    start = i + 1
                    out.append(jsonBackslash)
                    switch b {
                    case jsonQuote, jsonBackslash: out.append(b)
                    case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
                    case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
                    case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
                    default: out += [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), jsonHexDigits[Int(b >> 4)], jsonHexDigits[Int(b & 0xF)]]
                    }
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
            }
            out.append(jsonQuote)
        }

        func integer<I: BinaryInteger>(_ i: I) { Self.append(integer: i, to: &out) }

        static func append<I: BinaryInteger>(integer i: I, to out: inout [UInt8]) {
            // Digits written backwards into a small buffer, then appended: no String made.
            var magnitude = i.magnitude
            if magnitude == 0 {
                out.append(UInt8(ascii: "0"))
                return
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
                var at = 40
                while magnitude > 0 {
                    let (q, r) = magnitude.quotientAndRemainder(dividingBy: 10)
                    at -= 1
                    digits[at] = UInt8(ascii: "0") + UInt8(r)
                    magnitude = q
                }
                if i < 0 {
                    at -= 1
                    digits[at] = UInt8(ascii: "-")
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[at..<40]))
            }
        }

        func bool(_ b: Bool) { out += b ? jsonTrue : jsonFalse }

        func double(_ d: Double) throws {
            guard d.isFinite else { throw Unsupported() }
            if d == d.rounded(), abs(d) < 1e15 { out += Array(String(Int64(d)).utf8) } else { out += Array("\(d)".utf8) }
        }

        /// RFC 3339 in UTC, whole seconds: what `JSONEncoder.DateEncodingStrategy.iso8601` writes.
        func date(_ date: Date) throws {
            let seconds = date.timeIntervalSince1970.rounded(.down)
            guard seconds.isFinite, abs(seconds) < 253_402_300_800 else { throw Unsupported() }
            var t = time_t(seconds)
            var parts = tm()
            guard gmtime_r(&t, &parts) != nil, (0...9999).contains(parts.tm_year + 1900) else { throw Unsupported() }
            let text = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                              parts.tm_hour, parts.tm_min, parts.tm_sec)
            string(text)
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(Keyed<Key>(writer: self, id: begin(object: true)))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer { Unkeyed(writer: self, id: begin(object: false)) }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(writer: self) }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let writer: Writer
        let id: Int
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws {
            try writer.member(of: id, key: key.stringValue)
            writer.out += jsonNull
        }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try writer.member(of: id, key: key.stringValue)
            try writer.value(value)
        }

        // The common members without a dynamic cast each.
        mutating func encode(_ value: String, forKey key: Key) throws { try put(key) { $0.string(value) } }
        mutating func encode(_ value: Bool, forKey key: Key) throws { try put(key) { $0.bool(value) } }
        mutating func encode(_ value: Int, forKey key: Key) throws { try put(key) { $0.integer(value) } }
        mutating func encode(_ value: Int64, forKey key: Key) throws { try put(key) { $0.integer(value) } }
        mutating func encode(_ value: Int32, forKey key: Key) throws { try put(key) { $0.integer(value) } }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { try put(key) { $0.integer(value) } }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { try put(key) { $0.integer(value) } }
        mutating func encode(_ value: Double, forKey key: Key) throws { try put(key) { try $0.double(value) } }

        /// Starts the member `key`, then writes its value with `write`.
        private func put(_ key: Key, _ write: (Writer) throws -> Void) throws {
            try writer.member(of: id, key: key.stringValue)
            try write(writer)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            // A member that cannot be started shows when the nested container is written to (its id is not open).
            try? writer.member(of: id, key: key.stringValue)
            return KeyedEncodingContainer(Keyed<NestedKey>(writer: writer, id: writer.begin(object: true)))
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            try? writer.member(of: id, key: key.stringValue)
            return Unkeyed(writer: writer, id: writer.begin(object: false))
        }

        mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
        mutating func superEncoder(forKey key: Key) -> any Encoder { UnsupportedEncoder() }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let writer: Writer
        let id: Int
        var count = 0
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil() throws {
            try writer.member(of: id, key: nil)
            writer.out += jsonNull
            count += 1
        }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try writer.member(of: id, key: nil)
            try writer.value(value)
            count += 1
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            try? writer.member(of: id, key: nil)
            count += 1
            return KeyedEncodingContainer(Keyed<NestedKey>(writer: writer, id: writer.begin(object: true)))
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            try? writer.member(of: id, key: nil)
            count += 1
            return Unkeyed(writer: writer, id: writer.begin(object: false))
        }

        mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
    }

    struct Single: SingleValueEncodingContainer {
        let writer: Writer
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil() throws {
            guard !writer.refuses else { throw Unsupported() }
            writer.out += jsonNull
        }
        mutating func encode<T: Encodable>(_ value: T) throws { try writer.value(value) }
        mutating func encode(_ value: String) throws {
            guard !writer.refuses else { throw Unsupported() }
            writer.string(value)
        }
    }

    /// A super encoder: left to JSONEncoder (every container it gives throws when written to).
    struct UnsupportedEncoder: Encoder {
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        private var refusing: Writer {
            let w = Writer()
            w.refuses = true
            return w
        }
        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(Keyed<Key>(writer: refusing, id: -1))
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { Unkeyed(writer: refusing, id: -1) }
        func singleValueContainer() -> any SingleValueEncodingContainer { Single(writer: refusing) }
    }
}

/// Dictionaries, whose members come in an order that changes from run to run: left to `JSONEncoder`
/// (with sorted keys).
protocol DictionaryMarker {}
extension Dictionary: DictionaryMarker {}

private let jsonQuote = UInt8(ascii: "\"")
private let jsonBackslash = UInt8(ascii: "\\")
private let jsonTrue = Array("true".utf8)
private let jsonFalse = Array("false".utf8)
private let jsonNull = Array("null".utf8)
private let jsonHexDigits = Array("0123456789abcdef".utf8)
