import Foundation
import ArgumentParser

/// A size on the command line: a number of bytes, or with a K, M, G or T suffix (powers of 1024;
/// `8M` is 8388608 bytes), optionally followed by `B` or `iB`.
struct ByteSize: ExpressibleByArgument, Sendable {
    let bytes: Int64

    init?(argument: String) {
        var text = Substring(argument.trimmingCharacters(in: .whitespaces))
        for suffix in ["iB", "B", "ib", "b"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text = text.dropLast(suffix.count)
            break
        }
        var multiplier: Int64 = 1
        if let last = text.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][last.lowercased()] {
            multiplier = 1 << (10 * Int64(power))
            text = text.dropLast()
        }
        guard !text.isEmpty, text.allSatisfy(\.isASCII), let n = Int64(text), n >= 0 else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return nil }
        bytes = product
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
