import OutboxFuzzSupport

/// A segment file: header and frame decoders, message records, re-encoding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSegment(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    OutboxFuzzing.segmentFile(Array(UnsafeRawBufferPointer(start: start, count: count)))
    return 0
}
