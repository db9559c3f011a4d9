import Foundation
@testable import Outbox
import Testing

@Suite("JSON Lines encoding")
struct JSONLineTests {
    /// The reference: the same fields through `String(format:)`.
    private func reference(_ micros: Int64) -> String {
        var seconds = time_t(micros / 1_000_000)
        var fraction = micros % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        var t = tm()
        gmtime_r(&seconds, &t)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                      t.tm_hour, t.tm_min, t.tm_sec, Int32(fraction))
    }

    /// Every time from year 1 to 9999 formats as the reference does; times outside it (a damaged file's)
    /// format without trapping.
    @Test func timestampsMatchTheReference() {
        let seed = testSeed("rfc3339")
        var g = SeededGenerator(seed: seed)
        let edges: [Int64] = [0, -1, 1, 999_999, -999_999, 1_000_000, -62_135_596_800_000_000, 253_402_300_799_999_999]
        for micros in edges + (0..<20_000).map({ _ in Int64.random(in: -62_135_596_800_000_000...253_402_300_799_999_999, using: &g) }) {
            #expect(rfc3339(micros: micros) == reference(micros), "seed \(seed): \(micros)")
        }
        for micros in [Int64.max, Int64.min, 253_402_300_800_000_000, -62_135_596_800_000_001] {
            #expect(!rfc3339(micros: micros).isEmpty)
        }
    }

    /// Any string, quoted, parses back as itself.
    @Test func quotedStringsParseBackAsThemselves() throws {
        let seed = testSeed("jsonQuote")
        var g = SeededGenerator(seed: seed)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1f}", "\u{7f}", "é", "€", "😀", "\u{2028}"]
        for _ in 0..<2000 {
            let s = String((0..<Int.random(in: 0...24, using: &g)).map { _ in alphabet.randomElement(using: &g)! })
            let parsed = try JSONSerialization.jsonObject(with: Data(("[" + JSONLine.quote(s) + "]").utf8)) as? [String]
            #expect(parsed == [s], "seed \(seed): \(s.debugDescription) quoted as \(JSONLine.quote(s))")
        }
    }
}
