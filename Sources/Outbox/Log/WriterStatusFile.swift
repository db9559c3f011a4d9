import Foundation

/// `writer-status.json` (FORMAT.md §1): since when the writer has been refusing appends for want of room in
/// the disk budget, for `outbox stats` in another process. Advisory: the writer holding `writer.lock`
/// replaces it (temporary file, rename) when it starts refusing and when an append succeeds again; a
/// reader trusts it while that pid holds the lock, and, with no writer running, as the last writer's
/// word (a refusal by a short-lived writer, `outbox append`, still shows after it exited; the next
/// writer whose append succeeds clears it).
struct WriterStatusFile: Sendable, Equatable {
    static let fileName = "writer-status.json"

    var pid: Int32
    /// When the first refused append of the current full episode was refused (microseconds since the
    /// Unix epoch); nil while appends succeed.
    var fullSinceMicros: Int64?

    func write(in directory: OutboxDirectory) throws {
        let object: [String: Any] = ["pid": pid, "fullSinceMicros": fullSinceMicros ?? NSNull()]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        _ = try directory.createFile(Self.fileName, contents: [Array(data) + [0x0A]])
    }

    /// What the writer holding `writer.lock` (pid `holder`) wrote, or with no writer (`holder` nil) what
    /// the last one wrote, if anything.
    static func read(in directory: OutboxDirectory, holder: Int32?) -> WriterStatusFile? {
        guard let file = try? directory.openFile(fileName, writable: false), let size = try? file.size(), size < 4096,
              let bytes = try? file.read(at: 0, count: Int(size)),
              let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let pid = (o["pid"] as? NSNumber)?.int32Value, holder == nil || pid == holder else { return nil }
        return WriterStatusFile(pid: pid, fullSinceMicros: (o["fullSinceMicros"] as? NSNumber)?.int64Value)
    }
}
