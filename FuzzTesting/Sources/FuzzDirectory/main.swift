import Foundation
@_spi(Fuzzing) import Outbox

/// Whole-directory recovery: the input becomes the files of an outbox, then everything is opened and read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDirectory(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let dir = base + "/outbox-fuzz-\(getpid())"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    OutboxFuzzing.directory(Array(UnsafeRawBufferPointer(start: start, count: count)), in: dir)
    try? FileManager.default.removeItem(atPath: dir)
    return 0
}
