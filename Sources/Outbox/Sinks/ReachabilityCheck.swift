/// A handshake with a broker that leaves the sink's own connection alone, tried over and over by
/// ``ReconnectWatcher`` while the broker is unreachable. It is made, used and closed on the watcher's
/// thread.
package protocol ReachabilityCheck: AnyObject {
    /// Tries once, blocking for at most about `timeout`: true when the broker answered (any protocol
    /// answer counts, a refusal too: the broker is there).
    func attempt(timeout: Duration) -> Bool
    /// Frees what the attempts kept (a client handle, a connection).
    func close()
}
