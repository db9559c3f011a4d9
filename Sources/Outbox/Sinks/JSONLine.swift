import Foundation

/// Builds one JSON object in a fixed key order (for JSON Lines output).
package struct JSONLine {
    package init() {}
    private var parts: [String] = []

    /// `s` as a JSON string literal (``appendQuoted(_:to:)``).
    package static func quote(_ s: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(s, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `s` as a JSON string literal, escaped in one pass over its UTF-8 (JSON is UTF-8: only `"`,
    /// `\` and control characters need escapes).
    package static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var start = 0
            for (i, b) in utf8.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                start = i + 1
                out.append(UInt8(ascii: "\\"))
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(b)
                case UInt8(ascii: "\n"): out.append(UInt8(ascii: "n"))
                case UInt8(ascii: "\r"): out.append(UInt8(ascii: "r"))
                case UInt8(ascii: "\t"): out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    package mutating func raw(_ key: String, _ json: String) { parts.append(Self.quote(key) + ":" + json) }
    package mutating func string(_ key: String, _ v: String?) { raw(key, v.map(Self.quote) ?? "null") }
    package mutating func number<N: BinaryInteger>(_ key: String, _ v: N?) { raw(key, v.map { "\($0)" } ?? "null") }
    package mutating func double(_ key: String, _ v: Double?) { raw(key, v.map { String(format: "%.3f", $0) } ?? "null") }
    package mutating func bool(_ key: String, _ v: Bool) { raw(key, v ? "true" : "false") }
    /// `"headers":[{"name":…,"value":…},…]`, in their order (the sinks' records and `dump --json`).
    package mutating func headers(_ headers: [OutboxMessage.Header]) {
        raw("headers", "[" + headers.map { "{\"name\":\(Self.quote($0.name)),\"value\":\(Self.quote($0.value))}" }.joined(separator: ",") + "]")
    }

    package var text: String { "{" + parts.joined(separator: ",") + "}" }
}

/// RFC 3339 UTC time with microseconds, e.g. `2026-11-29T16:40:00.123456Z`.
package func rfc3339(micros: Int64) -> String {
    var seconds = time_t(micros / 1_000_000)
    var fraction = micros % 1_000_000
    if fraction < 0 {
        fraction += 1_000_000
        seconds -= 1
    }
    var t = tm()
    let year = gmtime_r(&seconds, &t) == nil ? -1 : Int(t.tm_year) + 1900
    guard (0...9999).contains(year) else {
        // A time no calendar of four-digit years holds (only a damaged or hostile file has one).
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                      t.tm_hour, t.tm_min, t.tm_sec, Int32(fraction))
    }
    // Digits written straight into the string's 27 bytes: this runs for every message a sink publishes,
    // and String(format:) costs several times more.
    return String(unsafeUninitializedCapacity: 27) { bytes in
        func put(_ value: Int, _ width: Int, at start: Int) {
            var v = value
            for i in stride(from: start + width - 1, through: start, by: -1) {
                bytes[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
        }
        put(year, 4, at: 0)
        put(Int(t.tm_mon) + 1, 2, at: 5)
        put(Int(t.tm_mday), 2, at: 8)
        put(Int(t.tm_hour), 2, at: 11)
        put(Int(t.tm_min), 2, at: 14)
        put(Int(t.tm_sec), 2, at: 17)
        put(Int(fraction), 6, at: 20)
        (bytes[4], bytes[7], bytes[10]) = (UInt8(ascii: "-"), UInt8(ascii: "-"), UInt8(ascii: "T"))
        (bytes[13], bytes[16], bytes[19], bytes[26]) = (UInt8(ascii: ":"), UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "Z"))
        return 27
    }
}
