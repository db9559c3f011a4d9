/// Moves a non-Sendable value that is only touched by one thread at a time (here: the commit thread,
/// after the initializer handed it over).
struct UnsafeTransfer<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
