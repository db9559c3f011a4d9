import CZlib

/// Payload compression: a zlib stream (RFC 1950, deflate inside) through zlib's `compress2`/`uncompress`.
enum Deflate {
    /// Compresses `bytes`; nil when compression does not make them smaller.
    static func compress(_ bytes: [UInt8]) -> [UInt8]? {
        var capacity = compressBound(UInt(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(capacity))
        let rc = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &capacity, i.baseAddress, UInt(i.count), 6)
            }
        }
        guard rc == Z_OK, Int(capacity) < bytes.count else { return nil }
        out.removeSubrange(Int(capacity)...)
        return out
    }

    /// Inflates a stream that must expand to exactly `expectedLength` bytes (bounded by the caller).
    static func decompress(_ bytes: ArraySlice<UInt8>, expectedLength: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: max(expectedLength, 1))
        var length = UInt(expectedLength)
        var consumed = UInt(bytes.count)
        let rc = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                uncompress2(o.baseAddress, &length, i.baseAddress, &consumed)
            }
        }
        // The stream must end exactly at the end of the stored payload: bytes after it are damage.
        guard rc == Z_OK, Int(length) == expectedLength, Int(consumed) == bytes.count else { return nil }
        if expectedLength == 0 { return [] }
        return out
    }
}
