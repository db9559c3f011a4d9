/// A frame read back and checked.
package struct Frame: Sendable {
    package var offset: Int64
    package var header: FrameHeader
    package var body: [UInt8]
    var end: Int64 { offset + Int64(FrameHeader.size) + Int64(body.count) }
}
