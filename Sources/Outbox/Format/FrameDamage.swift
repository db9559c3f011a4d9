/// Why the bytes at an offset are not a valid frame.
struct FrameDamage: Error, Sendable, Equatable {
    var offset: Int64
    var reason: String
}
