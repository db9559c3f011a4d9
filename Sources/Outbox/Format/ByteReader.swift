#if canImport(Glibc)
import Glibc
#endif

/// Reads little-endian integers from bytes, throwing ``DecodeError`` instead of reading out of bounds.
package struct ByteReader {
    let bytes: [UInt8]
    private(set) var index: Int
    let end: Int

    package init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.index = start
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - index }

    @inline(__always) private mutating func take(_ n: Int, _ what: StaticString) throws(DecodeError) -> Int {
        guard n >= 0, n <= end - index else {
            throw DecodeError("\(what) needs \(n) bytes but only \(end - index) remain", at: index)
        }
        defer { index += n }
        return index
    }

    mutating func u8(_ what: StaticString) throws(DecodeError) -> UInt8 { bytes[try take(1, what)] }

    mutating func u16(_ what: StaticString) throws(DecodeError) -> UInt16 {
        let i = try take(2, what)
        return UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
    }

    package mutating func u32(_ what: StaticString) throws(DecodeError) -> UInt32 {
        let i = try take(4, what)
        return Self.u32(bytes, at: i)
    }

    mutating func u64(_ what: StaticString) throws(DecodeError) -> UInt64 {
        let i = try take(8, what)
        return Self.u64(bytes, at: i)
    }

    mutating func i64(_ what: StaticString) throws(DecodeError) -> Int64 { Int64(bitPattern: try u64(what)) }

    mutating func bytes(_ n: Int, _ what: StaticString) throws(DecodeError) -> ArraySlice<UInt8> {
        let i = try take(n, what)
        return bytes[i..<(i + n)]
    }

    mutating func string(_ n: Int, _ what: StaticString) throws(DecodeError) -> String {
        let at = index
        let i = try take(n, what)
        guard let s = bytes.withUnsafeBufferPointer({ String(validating: UnsafeBufferPointer(rebasing: $0[i..<(i + n)]), as: UTF8.self) }) else {
            throw DecodeError("\(what) is not valid UTF-8", at: at)
        }
        return s
    }

    /// ``string(_:_:)``, returning `previous` itself when it holds the same bytes (no validation, no
    /// new storage), and remembering what it returns in `previous`.
    mutating func string(_ n: Int, _ what: StaticString, reusing previous: inout String?) throws(DecodeError) -> String {
        if var p = previous, n <= end - index {
            let i = index
            let same = p.withUTF8 { u in
                u.count == n && bytes.withUnsafeBufferPointer { b in n == 0 || memcmp(u.baseAddress!, b.baseAddress! + i, n) == 0 }
            }
            if same {
                index += n
                return p
            }
        }
        let s = try string(n, what)
        previous = s
        return s
    }

    /// The next `n` bytes (fewer if fewer remain), without reading past them.
    func peek(_ n: Int) -> ArraySlice<UInt8> { bytes[index..<min(end, index + max(0, n))] }

    package mutating func varint(_ what: StaticString) throws(DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let at = index
            let b = try u8(what)
            if shift == 63 && b > 1 { throw DecodeError("\(what) overflows 64 bits", at: at) }
            if shift > 0 && b == 0 { throw DecodeError("\(what) is not minimally encoded", at: at) }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw DecodeError("\(what) overflows 64 bits", at: at) }
        }
    }

    package static func u32(_ b: [UInt8], at i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    static func u64(_ b: [UInt8], at i: Int) -> UInt64 {
        UInt64(u32(b, at: i)) | UInt64(u32(b, at: i + 4)) << 32
    }
}
