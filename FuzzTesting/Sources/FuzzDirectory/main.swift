import OutboxFuzzSupport

/// Whole-directory recovery: the input becomes the files of an outbox (held in memory), then everything
/// is opened, read and, when recovery accepts it, written.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDirectory(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    OutboxFuzzing.directory(Array(UnsafeRawBufferPointer(start: start, count: count)))
    return 0
}
