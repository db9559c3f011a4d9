import Foundation

/// What the processor offers, as Linux reports it in `/proc/cpuinfo`.
enum CPUFeatures {
    /// Whether the CPU has AES instructions (x86 `aes`, arm64 `aes` among its features): then AES-GCM is
    /// the faster cipher, else ChaCha20-Poly1305 is (FORMAT.md §10).
    static let hasAES: Bool = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return true }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") || line.hasPrefix("Features") {
            if line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).contains("aes") { return true }
        }
        return false
    }()
}
