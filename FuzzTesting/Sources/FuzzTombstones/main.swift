import OutboxFuzzSupport

/// Tombstone range bodies and tombstone files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTombstones(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    OutboxFuzzing.tombstoneBody(Array(UnsafeRawBufferPointer(start: start, count: count)))
    return 0
}
