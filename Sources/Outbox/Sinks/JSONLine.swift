import Foundation

/// Builds one JSON object in a fixed key order (for JSON Lines output).
package struct JSONLine {
    package init() {}
    private var parts: [String] = []

    package static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    package mutating func raw(_ key: String, _ json: String) { parts.append(Self.quote(key) + ":" + json) }
    package mutating func string(_ key: String, _ v: String?) { raw(key, v.map(Self.quote) ?? "null") }
    package mutating func number<N: BinaryInteger>(_ key: String, _ v: N?) { raw(key, v.map { "\($0)" } ?? "null") }
    package mutating func double(_ key: String, _ v: Double?) { raw(key, v.map { String(format: "%.3f", $0) } ?? "null") }
    package mutating func bool(_ key: String, _ v: Bool) { raw(key, v ? "true" : "false") }

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
    gmtime_r(&seconds, &t)
    return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                  t.tm_hour, t.tm_min, t.tm_sec, Int32(fraction))
}
