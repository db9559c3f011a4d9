/// A frame read back and checked.
package struct Frame: Sendable {
    package var offset: Int64
    package var header: FrameHeader
    package var body: [UInt8]
    /// Set for a frame a reader of some lanes passed over (``FrameScanner/passOver``): its lane filter.
    /// Its body was not read (empty here) and its checksum not checked: another reader of the log takes
    /// and checks it.
    var passedOver: UInt64?
    var end: Int64 { offset + Int64(FrameHeader.size) + Int64(header.bodyLength) }

    package init(offset: Int64, header: FrameHeader, body: [UInt8], passedOver: UInt64? = nil) {
        self.offset = offset
        self.header = header
        self.body = body
        self.passedOver = passedOver
    }

    /// Its lane filter (``LaneSummary/filter(kind:body:)``).
    var laneFilter: UInt64 { passedOver ?? LaneSummary.filter(kind: header.kind, body: body) }
}
