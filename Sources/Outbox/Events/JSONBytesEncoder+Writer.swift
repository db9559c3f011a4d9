import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension JSONBytesEncoder {
    /// The bytes, and the containers open in them (innermost last).
    ///
    /// Its stored properties are not checked for exclusive access at run time (each write would be, and
    /// that cost about a fifth of the encoder's time): a writer is used by one call of ``encode(_:)`` on
    /// one thread, and no access to them outlives the statement that makes it.
    final class Writer: Encoder {
        /// The JSON written so far: `count` bytes of `capacity` at `bytes`.
        @exclusivity(unchecked) private var bytes: UnsafeMutablePointer<UInt8>
        @exclusivity(unchecked) private(set) var count = 0
        @exclusivity(unchecked) private var capacity: Int
        /// A super encoder's writer: every write is left to JSONEncoder.
        @exclusivity(unchecked) var refuses = false
        /// The open containers, innermost last: `depth` of `openCapacity` at `open`.
        @exclusivity(unchecked) private var open: UnsafeMutablePointer<Container>
        @exclusivity(unchecked) private(set) var depth = 0
        @exclusivity(unchecked) private var openCapacity = 8
        @exclusivity(unchecked) private var nextID = 0
        /// How many values are being encoded inside one another.
        @exclusivity(unchecked) private var nesting = 0

        /// An open container: its id, whether it is an object, whether a member was written.
        struct Container {
            var id: Int
            var object: Bool
            var members = false
        }

        init() {
            capacity = 128
            bytes = .allocate(capacity: capacity)
            open = .allocate(capacity: openCapacity)
        }

        deinit {
            bytes.deallocate()
            open.deallocate()
        }

        /// The JSON written.
        var out: [UInt8] { Array(UnsafeBufferPointer(start: bytes, count: count)) }

        /// Room for `n` more bytes.
        @inline(__always)
        private func reserve(_ n: Int) {
            if count + n > capacity { grow(to: count + n) }
        }

        private func grow(to needed: Int) {
            let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: max(needed, capacity * 2))
            larger.update(from: bytes, count: count)
            bytes.deallocate()
            (bytes, capacity) = (larger, max(needed, capacity * 2))
        }

        @inline(__always)
        func put(_ b: UInt8) {
            reserve(1)
            bytes[count] = b
            count += 1
        }

        func put(_ buffer: UnsafeBufferPointer<UInt8>) {
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return }
            reserve(buffer.count)
            (bytes + count).update(from: base, count: buffer.count)
            count += buffer.count
        }

        func put(_ literal: StaticString) {
            put(UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
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
                // A type that encodes itself into a single value of its own type would never end.
                nesting += 1
                defer { nesting -= 1 }
                guard nesting < 256 else { throw Unsupported() }
                let (before, written) = (depth, count)
                try value.encode(to: self)
                while depth > before { close() }
                if count == written { put("{}") }  // a value that wrote nothing, as JSONEncoder writes it
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
            put(object ? UInt8(ascii: "{") : UInt8(ascii: "["))
            nextID += 1
            if depth == openCapacity {
                let larger = UnsafeMutablePointer<Container>.allocate(capacity: openCapacity * 2)
                larger.moveInitialize(from: open, count: depth)
                open.deallocate()
                (open, openCapacity) = (larger, openCapacity * 2)
            }
            (open + depth).initialize(to: Container(id: nextID, object: object))
            depth += 1
            return nextID
        }

        /// Closes the innermost container.
        func close() {
            depth -= 1
            put(open[depth].object ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }

        /// Starts a member of container `id` (a key, for an object): the containers a previous member
        /// opened inside it are closed first; writing to a container that is not open, or under one opened
        /// later that is still in use, is left to JSONEncoder.
        func member(of id: Int, key: String?) throws {
            guard !refuses, let i = (0..<depth).last(where: { open[$0].id == id }) else { throw Unsupported() }
            while depth > i + 1 { close() }
            if open[i].members { put(UInt8(ascii: ",")) }
            open[i].members = true
            if let key {
                string(key)
                put(UInt8(ascii: ":"))
            }
        }

        /// Writes `s` as a JSON string literal: its bytes copied as they are scanned, until one must be
        /// escaped.
        func string(_ s: String) {
            var s = s
            s.withUTF8 { utf8 in
                guard let from = utf8.baseAddress else { return put("\"\"") }
                reserve(utf8.count + 2)
                bytes[count] = jsonQuote
                var (at, i) = (count + 1, 0)
                while i < utf8.count {
                    let b = from[i]
                    if b < 0x20 || b == jsonQuote || b == jsonBackslash { break }
                    bytes[at] = b
                    (at, i) = (at + 1, i + 1)
                }
                count = at
                if i < utf8.count { escaping(UnsafeBufferPointer(rebasing: utf8[i...])) }
                put(jsonQuote)
            }
        }

        /// Writes `utf8` inside a string literal, escaping what JSON requires.
        private func escaping(_ utf8: UnsafeBufferPointer<UInt8>) {
            for b in utf8 {
                guard b < 0x20 || b == jsonQuote || b == jsonBackslash else {
                    put(b)
                    continue
                }
                put(jsonBackslash)
                switch b {
                case jsonQuote, jsonBackslash: put(b)
                case UInt8(ascii: "\n"): put(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): put(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): put(UInt8(ascii: "t"))
                default:
                    put("u00")
                    put(jsonHexDigits[Int(b >> 4)])
                    put(jsonHexDigits[Int(b & 0xF)])
                }
            }
        }

        /// Writes `i` in decimal: its digits written backwards into a small buffer, then appended (no
        /// String made).
        func integer<I: BinaryInteger>(_ i: I) {
            var magnitude = i.magnitude
            if magnitude == 0 { return put(UInt8(ascii: "0")) }
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
                put(UnsafeBufferPointer(rebasing: digits[at..<40]))
            }
        }

        func bool(_ b: Bool) { put(b ? "true" : "false") }

        func null() { put("null") }

        func double(_ d: Double) throws {
            guard d.isFinite else { throw Unsupported() }
            var text = d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
            text.withUTF8 { put($0) }
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
            // A dictionary's members come in an order that changes from run to run: left to JSONEncoder
            // (keys sorted). An empty one is `{}` either way.
            if ObjectIdentifier(Key.self) == jsonDictionaryKeyType {
                put("{}")
                return KeyedEncodingContainer(Keyed<Key>(writer: self, id: -1))
            }
            return KeyedEncodingContainer(Keyed<Key>(writer: self, id: begin(object: true)))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer { Unkeyed(writer: self, id: begin(object: false)) }

        func singleValueContainer() -> any SingleValueEncodingContainer { Single(writer: self) }
    }
}

private let jsonQuote = UInt8(ascii: "\"")
private let jsonBackslash = UInt8(ascii: "\\")
private let jsonHexDigits = Array("0123456789abcdef".utf8)
