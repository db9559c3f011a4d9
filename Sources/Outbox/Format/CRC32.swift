import CZlib

/// CRC-32 (ISO-HDLC / IEEE 802.3: polynomial 0x04C11DB7 reflected, init and final xor 0xFFFFFFFF), as
/// computed by zlib's `crc32`. `CRC32.of(Array("123456789".utf8)) == 0xCBF43926`.
package enum CRC32 {
    package static func of<C: ContiguousCollection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        bytes.withContiguousStorage { raw in
            UInt32(CZlib.crc32(UInt(crc), raw.baseAddress, UInt32(raw.count)))
        }
    }

    package static func of(_ raw: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        UInt32(CZlib.crc32(UInt(crc), raw.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt32(raw.count)))
    }

    /// The CRC of `a || b` from the CRC of `a`, the CRC of `b` and the length of `b` (zlib `crc32_combine`).
    package static func combine(_ a: UInt32, _ b: UInt32, lengthOfB: Int) -> UInt32 {
        UInt32(CZlib.crc32_combine(UInt(a), UInt(b), off_t(lengthOfB)))
    }
}

/// A collection that can lend its bytes contiguously.
package protocol ContiguousCollection: Collection where Element == UInt8 {
    func withContiguousStorage<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R
}

extension Array: ContiguousCollection where Element == UInt8 {
    package func withContiguousStorage<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer(body)
    }
}

extension ArraySlice: ContiguousCollection where Element == UInt8 {
    package func withContiguousStorage<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer(body)
    }
}
