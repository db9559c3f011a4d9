extension JSONBytesEncoder {
    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let writer: Writer
        let id: Int
        var codingPath: [any CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws {
            try writer.member(of: id, key: key.stringValue)
            writer.null()
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
            writer.null()
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
            writer.null()
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

/// The key type of the keyed container a dictionary encodes itself into (the standard library's own, not
/// public): found once by encoding one.
let jsonDictionaryKeyType: ObjectIdentifier = {
    let probe = KeyTypeProbe()
    try? ["": 0].encode(to: probe)
    return probe.keyType ?? ObjectIdentifier(KeyTypeProbe.self)
}()

/// An encoder that records the key type of the first keyed container asked of it, and writes nothing.
private final class KeyTypeProbe: Encoder {
    var keyType: ObjectIdentifier?
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        keyType = keyType ?? ObjectIdentifier(Key.self)
        return KeyedEncodingContainer(JSONBytesEncoder.Keyed<Key>(writer: JSONBytesEncoder.Writer(), id: -1))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { JSONBytesEncoder.Unkeyed(writer: JSONBytesEncoder.Writer(), id: -1) }
    func singleValueContainer() -> any SingleValueEncodingContainer { JSONBytesEncoder.Single(writer: JSONBytesEncoder.Writer()) }
}
