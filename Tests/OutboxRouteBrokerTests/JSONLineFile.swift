import Foundation

/// A file sink's output read as it grows: each poll reads only the bytes added since the last one.
final class JSONLineFile {
    private let path: String
    private var offset: UInt64 = 0
    private var partial: [UInt8] = []
    private(set) var lines: [(seq: UInt64, key: String?)] = []
    private(set) var seqs = Set<UInt64>()

    init(path: String) { self.path = path }

    /// Reads what was added since the last call.
    func poll() {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        guard let data = try? handle.readToEnd(), !data.isEmpty else { return }
        offset += UInt64(data.count)
        partial.append(contentsOf: data)
        guard let last = partial.lastIndex(of: UInt8(ascii: "\n")) else { return }
        for line in partial[...last].split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let seq = (object["seq"] as? NSNumber)?.uint64Value else { continue }
            lines.append((seq, object["key"] as? String))
            seqs.insert(seq)
        }
        partial.removeFirst(last + 1)
    }
}
