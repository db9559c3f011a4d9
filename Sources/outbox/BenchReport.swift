import Foundation
import Outbox
import OutboxBench

/// The three forms of `outbox bench`'s report: text for a terminal, Markdown for README and
/// BENCHMARKS.md, JSON with stable names.
enum BenchReport {
    /// The medians of the per-round extras of `runs` (latency, messages per fdatasync, device bytes).
    private static func extras(_ runs: [BenchSample]) -> (p50: Double?, p99: Double?, perSync: Double?, amplification: Double?, cold: Bool?) {
        (Spread(runs.compactMap { $0.p50?.milliseconds })?.median, Spread(runs.compactMap { $0.p99?.milliseconds })?.median,
         Spread(runs.compactMap(\.perSync))?.median, Spread(runs.compactMap(\.amplification))?.median,
         runs.compactMap(\.cold).isEmpty ? nil : runs.allSatisfy { $0.cold ?? true })
    }

    static func json(_ r: ScenarioResult) -> String {
        func figures(_ runs: [BenchSample]) -> String {
            var o = JSONLine()
            if let s = Spread(runs.map { $0.value(r.metric) }) {
                o.raw("median", number(s.median))
                o.raw("min", number(s.min))
                o.raw("max", number(s.max))
            }
            o.raw("values", "[" + runs.map { number($0.value(r.metric)) }.joined(separator: ",") + "]")
            let x = extras(runs)
            if let v = x.p50 { o.raw("p50Ms", number(v)) }
            if let v = x.p99 { o.raw("p99Ms", number(v)) }
            if let v = x.perSync { o.raw("messagesPerFdatasync", number(v)) }
            if let v = x.amplification { o.raw("deviceBytesPerPayloadByte", number(v)) }
            if let v = x.cold { o.bool("cold", v) }
            for name in Set(runs.flatMap(\.figures.keys)).sorted() {
                if let s = Spread(runs.compactMap { $0.figures[name] }) { o.raw(name, number(s.median)) }
            }
            o.number("operations", runs.first?.operations ?? 0)
            return o.text
        }
        var j = JSONLine()
        j.string("what", r.what)
        j.string("unit", r.metric.unit)
        j.raw("outbox", figures(r.outbox))
        j.raw("baselines", "{" + r.baselines.map { JSONLine.quote($0.name) + ":" + figures($0.runs) }.joined(separator: ",") + "}")
        j.raw("ratios", "{" + r.baselines.compactMap { b in r.ratio(vs: b.name).map { s in
            JSONLine.quote(b.name) + ":{\"median\":\(number(s.median)),\"min\":\(number(s.min)),\"max\":\(number(s.max))}" } }.joined(separator: ",") + "}")
        j.raw("goals", "[" + r.verdicts.map { "{\"goal\":\(JSONLine.quote($0.goal)),\"value\":\(number($0.value)),\"met\":\($0.met)}" }.joined(separator: ",") + "]")
        return j.text
    }

    static func text(_ results: [ScenarioResult]) -> String {
        var lines: [String] = []
        for r in results {
            lines.append("")
            lines.append("\(r.name)  (\(r.what))")
            func row(_ name: String, _ runs: [BenchSample], ratio: Spread?) {
                guard let s = Spread(runs.map { $0.value(r.metric) }) else { return lines.append("  \(pad(name, 22)) -") }
                let x = extras(runs)
                var line = "  " + pad(name, 22) + pad(figure(s.median, r.metric) + " " + r.metric.unit, 26)
                    + pad("(" + figure(s.min, r.metric) + "–" + figure(s.max, r.metric) + ")", 22)
                if let p50 = x.p50 { line += pad(String(format: "p50 %.3f ms", p50), 16) }
                if let perSync = x.perSync { line += pad(String(format: "%.1f msgs/fdatasync", perSync), 22) }
                if r.metric != .amplification, let a = x.amplification { line += pad(String(format: "%.1f B/B", a), 11) }
                if x.cold == false { line += "warm (page cache not dropped) " }
                if let ratio { line += String(format: "ratio %.2fx (%.2f–%.2f)", ratio.median, ratio.min, ratio.max) }
                lines.append(line)
            }
            row("outbox", r.outbox, ratio: nil)
            for b in r.baselines { row(b.name, b.runs, ratio: r.ratio(vs: b.name)) }
            for v in r.verdicts {
                lines.append("  goal \(v.goal): \(String(format: "%.2f", v.value)) \(v.met ? "met" : "NOT met")")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func markdown(_ results: [ScenarioResult]) -> String {
        var lines = ["| scenario | outbox (median, range) | baseline | baseline median | ratio (median, range) | goal | met |",
                     "|---|---|---|---|---|---|---|"]
        for r in results {
            guard let s = r.spread else { continue }
            let x = extras(r.outbox)
            var outbox = "\(figure(s.median, r.metric)) \(r.metric.unit) (\(figure(s.min, r.metric))–\(figure(s.max, r.metric)))"
            if let p50 = x.p50 { outbox += String(format: ", p50 %.3f ms", p50) }
            if let perSync = x.perSync { outbox += String(format: ", %.1f msgs/fdatasync", perSync) }
            let verdicts = r.verdicts
            let goals = verdicts.map(\.goal).joined(separator: "; ")
            let met = verdicts.map { $0.met ? "yes" : String(format: "no (%.2f)", $0.value) }.joined(separator: "; ")
            if r.baselines.isEmpty {
                lines.append("| `\(r.name)` | \(outbox) | - | - | - | \(goals.isEmpty ? "-" : goals) | \(met.isEmpty ? "-" : met) |")
            }
            for (i, b) in r.baselines.enumerated() {
                let base = Spread(b.runs.map { $0.value(r.metric) }).map { figure($0.median, r.metric) + " " + r.metric.unit } ?? "-"
                let ratio = r.ratio(vs: b.name).map { String(format: "%.2fx (%.2f–%.2f)", $0.median, $0.min, $0.max) } ?? "-"
                lines.append("| \(i == 0 ? "`\(r.name)`" : "") | \(i == 0 ? outbox : "") | `\(b.name)` | \(base) | \(ratio) | "
                             + "\(i == 0 ? goals : "") | \(i == 0 ? met : "") |")
            }
        }
        return lines.joined(separator: "\n")
    }

    private static func figure(_ v: Double, _ metric: Scenario.Metric) -> String {
        switch metric {
        case .rate, .bytesPerSecond: v >= 100 ? grouped(Int(v.rounded())) : String(format: "%.1f", v)
        case .seconds: String(format: "%.3f", v)
        case .amplification: String(format: "%.1f", v)
        }
    }

    private static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }

    private static func number(_ v: Double) -> String { v.isFinite ? String(format: "%.4g", v) : "null" }

    private static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
