import Foundation

/// The JSON Lines record the built-in sinks write for a message.
///
/// `{"id":…,"seq":…,"type":…,"key":…|null,"headers":[{"name":…,"value":…}],"createdAt":"RFC 3339",`
/// `"payload":"base64"}`
///
/// The record is written straight into a byte buffer the caller reuses (a sink writes one per message):
/// no intermediate strings, base64 encoded in place, strings escaped in one pass.
public enum SinkRecord {
    public static func json(_ m: StoredMessage) -> String {
        var bytes: [UInt8] = []
        append(m, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The records of `batch`, one line each (JSON Lines).
    public static func lines(_ batch: [StoredMessage]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(batch.count * 512)
        for m in batch {
            append(m, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Appends the record for `m` (without a newline) to `out`.
    public static func append(_ m: StoredMessage, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + 160 + m.message.payload.count * 4 / 3 + m.message.type.utf8.count)
        literal("{\"id\":\"", &out)
        m.message.id.appendCanonical(to: &out)
        literal("\",\"seq\":", &out)
        decimal(m.seq, &out)
        literal(",\"type\":", &out)
        quoted(m.message.type, &out)
        literal(",\"key\":", &out)
        if let key = m.message.key { quoted(key, &out) } else { literal("null", &out) }
        literal(",\"headers\":[", &out)
        for (i, h) in m.message.headers.enumerated() {
            literal(i == 0 ? "{\"name\":" : ",{\"name\":", &out)
            quoted(h.name, &out)
            literal(",\"value\":", &out)
            quoted(h.value, &out)
            out.append(UInt8(ascii: "}"))
        }
        literal("],\"createdAt\":\"", &out)
        out.append(contentsOf: rfc3339(micros: m.message.createdAtMicros).utf8)
        literal("\",\"payload\":\"", &out)
        base64(m.message.payload, &out)
        literal("\"}", &out)
    }

    @inline(__always)
    private static func literal(_ s: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    private static func decimal(_ v: UInt64, _ out: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buf in
            var v = v
            var i = buf.count
            repeat {
                i -= 1
                buf[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            } while v > 0
            out.append(contentsOf: buf[i...])
        }
    }

    private static func quoted(_ s: String, _ out: inout [UInt8]) { JSONLine.appendQuoted(s, to: &out) }

    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Standard base64 with padding (RFC 4648 §4), written in place.
    private static func base64(_ bytes: [UInt8], _ out: inout [UInt8]) {
        let length = (bytes.count + 2) / 3 * 4
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBufferPointer { o in
            alphabet.withUnsafeBufferPointer { a in
                bytes.withUnsafeBufferPointer { b in
                    var i = 0
                    var j = start
                    while i + 3 <= b.count {
                        let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
                        o[j] = a[Int(v >> 18)]
                        o[j + 1] = a[Int(v >> 12 & 63)]
                        o[j + 2] = a[Int(v >> 6 & 63)]
                        o[j + 3] = a[Int(v & 63)]
                        i += 3
                        j += 4
                    }
                    let left = b.count - i
                    if left > 0 {
                        let v = UInt32(b[i]) << 16 | (left == 2 ? UInt32(b[i + 1]) << 8 : 0)
                        o[j] = a[Int(v >> 18)]
                        o[j + 1] = a[Int(v >> 12 & 63)]
                        o[j + 2] = left == 2 ? a[Int(v >> 6 & 63)] : UInt8(ascii: "=")
                        o[j + 3] = UInt8(ascii: "=")
                    }
                }
            }
        }
    }
}
