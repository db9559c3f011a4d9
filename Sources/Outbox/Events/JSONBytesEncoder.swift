/// A JSON encoder for ``JSONEventCoder`` that writes straight into bytes, in the order a value encodes its
/// members (for synthesized `Codable`, the order the properties are declared): several times faster than
/// Foundation's `JSONEncoder`, which every append of a typed event would pay.
///
/// It takes what `Codable` types usually do, one value after another: strings, numbers, booleans, nil,
/// nested structs and arrays, `Date` (RFC 3339, whole seconds, as `JSONEncoder`'s `.iso8601`), `Data`
/// (base64) and `URL` (its text). Anything else (a dictionary written as an object, whose members' order
/// would change from run to run; a container written to after a later one was opened; a super encoder; a
/// number JSON cannot hold) throws ``Unsupported``, and the caller encodes the value with `JSONEncoder`
/// instead. (A dictionary whose keys are neither text nor integers is written as `JSONEncoder` writes it,
/// an array of keys and values in the dictionary's order.)
enum JSONBytesEncoder {
    /// The value asks for something this encoder leaves to `JSONEncoder`.
    struct Unsupported: Error {}

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = Writer()
        try writer.value(value)
        guard writer.depth == 0 else { throw Unsupported() }
        return writer.out
    }
}
