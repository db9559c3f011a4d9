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

    /// The sinks' record, written straight into bytes, is the record the fields give through `JSONLine`
    /// and Foundation's base64, for any strings, headers, payload lengths and creation times (also in a
    /// batch, where the text of a time's second is reused, and for times no four-digit year holds).
    @Test func sinkRecordsMatchTheReference() throws {
        let seed = testSeed("sinkRecord")
        var g = SeededGenerator(seed: seed)
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "😀"]
        func text() -> String { String((0..<Int.random(in: 0...12, using: &g)).map { _ in alphabet.randomElement(using: &g)! }) }
        var previous: Int64 = 1_800_000_000_000_000
        var batch: [StoredMessage] = []
        var singly: [UInt8] = []
        for _ in 0..<2000 {
            let payload = (0..<Int.random(in: 0...40, using: &g)).map { _ in UInt8.random(in: 0...255, using: &g) }
            let headers = (0..<Int.random(in: 0...3, using: &g)).map { _ in OutboxMessage.Header(text(), text()) }
            var message = OutboxMessage(type: text(), key: Bool.random(using: &g) ? text() : nil, headers: headers, payload: payload)
            switch Int.random(in: 0..<4, using: &g) {
            case 0: message.createdAtMicros = [Int64.min, Int64.max, -62_135_596_800_000_001, 253_402_300_800_000_000, -1, 0].randomElement(using: &g)!
            case 1: message.createdAtMicros = previous + Int64.random(in: -1_000_000...1_000_000, using: &g)
            case 2: message.createdAtMicros = Int64.random(in: -62_135_596_800_000_000...253_402_300_799_999_999, using: &g)
            default: break
            }
            previous = message.createdAtMicros == Int64.min || message.createdAtMicros == Int64.max ? 0 : message.createdAtMicros
            let m = StoredMessage(seq: UInt64.random(in: 0...UInt64.max, using: &g), message: message, segment: "s", offset: 0, compressed: false)
            var j = JSONLine()
            j.string("id", m.message.id.description)
            j.number("seq", m.seq)
            j.string("type", m.message.type)
            j.string("key", m.message.key)
            j.headers(m.message.headers)
            j.string("createdAt", rfc3339(micros: m.message.createdAtMicros))
            j.string("payload", Data(m.message.payload).base64EncodedString())
            #expect(SinkRecord.json(m) == j.text, "seed \(seed)")
            var lines: [UInt8] = []
            SinkRecord.append(m, to: &lines)
            #expect(SinkRecord.lines([m, m]) == lines + [10] + lines + [10])
            batch.append(m)
            singly += lines + [10]
        }
        #expect(SinkRecord.lines(batch) == singly, "seed \(seed): a batch's lines are its records'")
    }
}
