import Foundation

/// The JSON Lines record the built-in sinks write for a message.
///
/// `{"id":…,"seq":…,"type":…,"key":…|null,"headers":[{"name":…,"value":…}],"createdAt":"RFC 3339",`
/// `"payload":"base64"}`, with `"lane":…` after `"key"` when the message's lane is not `normal`.
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
        bytes.reserveCapacity(batch.reduce(0) { $0 + capacity(for: $1) })
        var time = TimeText()
        for m in batch {
            append(m, to: &bytes, time: &time)
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Appends the record for `m` (without a newline) to `out`.
    public static func append(_ m: StoredMessage, to out: inout [UInt8]) {
        out.reserveCapacity(out.count + capacity(for: m))
        var time = TimeText()
        append(m, to: &out, time: &time)
    }

    /// At least the bytes of `m`'s record, with its newline (more when a string needs escapes).
    private static func capacity(for m: StoredMessage) -> Int {
        171 + m.message.lane.name.utf8.count + (m.message.payload.count + 2) / 3 * 4 + m.message.type.utf8.count + (m.message.key?.utf8.count ?? 0)
            + m.message.headers.reduce(0) { $0 + 20 + $1.name.utf8.count + $1.value.utf8.count }
    }

    private static func append(_ m: StoredMessage, to out: inout [UInt8], time: inout TimeText) {
        literal("{\"id\":\"", &out)
        m.message.id.appendCanonical(to: &out)
        literal("\",\"seq\":", &out)
        decimal(m.seq, &out)
        literal(",\"type\":", &out)
        quoted(m.message.type, &out)
        literal(",\"key\":", &out)
        if let key = m.message.key { quoted(key, &out) } else { literal("null", &out) }
        if m.message.lane != .normal {
            literal(",\"lane\":", &out)
            quoted(m.message.lane.name, &out)
        }
        literal(",\"headers\":[", &out)
        for (i, h) in m.message.headers.enumerated() {
            literal(i == 0 ? "{\"name\":" : ",{\"name\":", &out)
            quoted(h.name, &out)
            literal(",\"value\":", &out)
            quoted(h.value, &out)
            out.append(UInt8(ascii: "}"))
        }
        literal("],\"createdAt\":\"", &out)
        time.append(micros: m.message.createdAtMicros, to: &out)
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

    /// Every pair of base64 digits, by the 12 bits they stand for (both bytes in one load and store).
    private static let digitPairs: [UInt16] = {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        return (0..<4096).map { v in UInt16(alphabet[v >> 6]) | UInt16(alphabet[v & 63]) << 8 }  // little-endian: first digit first
    }()

    /// Standard base64 with padding (RFC 4648 §4), written in place.
    private static func base64(_ bytes: [UInt8], _ out: inout [UInt8]) {
        let length = (bytes.count + 2) / 3 * 4
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        out.withUnsafeMutableBytes { o in
            digitPairs.withUnsafeBufferPointer { pairs in
                bytes.withUnsafeBufferPointer { b in
                    var i = 0
                    var j = start
                    while i + 3 <= b.count {
                        let v = Int(b[i]) << 16 | Int(b[i + 1]) << 8 | Int(b[i + 2])
                        o.storeBytes(of: pairs[v >> 12].littleEndian, toByteOffset: j, as: UInt16.self)
                        o.storeBytes(of: pairs[v & 4095].littleEndian, toByteOffset: j + 2, as: UInt16.self)
                        i += 3
                        j += 4
                    }
                    let left = b.count - i
                    if left > 0 {
                        let v = Int(b[i]) << 16 | (left == 2 ? Int(b[i + 1]) << 8 : 0)
                        o.storeBytes(of: pairs[v >> 12].littleEndian, toByteOffset: j, as: UInt16.self)
                        let last = UInt16(littleEndian: pairs[v & 4095])
                        o[j + 2] = left == 2 ? UInt8(truncatingIfNeeded: last) : UInt8(ascii: "=")
                        o[j + 3] = UInt8(ascii: "=")
                    }
                }
            }
        }
    }

    /// Writes RFC 3339 times (``rfc3339(micros:)``) straight into a record, keeping the text of the last
    /// second: the messages of a batch were mostly created within the same few seconds.
    private struct TimeText {
        private var second = Int64.min
        /// `YYYY-MM-DDTHH:MM:SS.` of ``second``.
        private var prefix: [UInt8] = []

        mutating func append(micros: Int64, to out: inout [UInt8]) {
            var (s, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
            if fraction < 0 {
                fraction += 1_000_000
                s -= 1
            }
            if s != second {
                // Years 0 to 9999; beyond them (only a damaged or hostile file has such a time), no cache.
                guard (-62_167_219_200...253_402_300_799).contains(s) else {
                    out.append(contentsOf: rfc3339(micros: micros).utf8)
                    return
                }
                let text = rfc3339(micros: s * 1_000_000)
                second = s
                prefix = Array(text.utf8.prefix(20))
            }
            out.append(contentsOf: prefix)
            var digits: (UInt32, UInt32) = (0, 0)  // 8 bytes: the fraction's 6 digits and the closing Z
            withUnsafeMutableBytes(of: &digits) { d in
                var v = Int(fraction)
                for i in stride(from: 5, through: 0, by: -1) {
                    d[i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
                d[6] = UInt8(ascii: "Z")
                out.append(contentsOf: d[0..<7])
            }
        }
    }
}
