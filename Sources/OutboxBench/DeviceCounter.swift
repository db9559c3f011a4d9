#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The bytes the block device under a directory has written, from `/sys/dev/block/MAJ:MIN/stat`
/// (sectors written, field 7, in 512-byte units). Everything on that device counts, the benchmark's
/// own files and any other writer's, so the figure is an upper bound on what a workload caused.
package struct DeviceCounter {
    let statPath: String

    /// Nil where the device has no stat file (a tmpfs, an overlay without a block device).
    package init?(directory: String) {
        var st = stat()
        guard stat(directory, &st) == 0 else { return nil }
        let major = (st.st_dev >> 8) & 0xfff | ((st.st_dev >> 32) & ~0xfff)
        let minor = (st.st_dev & 0xff) | ((st.st_dev >> 12) & ~0xff)
        let path = "/sys/dev/block/\(major):\(minor)/stat"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        statPath = path
        guard bytesWritten() != nil else { return nil }
    }

    /// The device's written bytes since boot.
    func bytesWritten() -> Int64? {
        guard let text = try? String(contentsOfFile: statPath, encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 7, let sectors = Int64(fields[6]) else { return nil }
        return sectors * 512
    }

    /// What the device writes from now until ``Span/end()``: `sync` first, so that earlier writes are not
    /// counted. Nil where the device has no stat file.
    static func start(in directory: String) -> Span? {
        guard let counter = DeviceCounter(directory: directory) else { return nil }
        sync()
        return counter.bytesWritten().map { Span(counter: counter, before: $0) }
    }

    struct Span {
        let counter: DeviceCounter
        let before: Int64

        /// `sync`s (what the workload left dirty counts too), then the bytes written since the start.
        func end() -> Int64? {
            sync()
            return counter.bytesWritten().map { $0 - before }
        }
    }
}
