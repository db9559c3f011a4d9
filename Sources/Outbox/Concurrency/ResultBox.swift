import Foundation

/// A one-shot result a blocking caller waits for.
package final class ResultBox<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Value, OutboxError>?

    package init() {}

    package func set(_ r: Result<Value, OutboxError>) {
        condition.lock()
        result = r
        condition.signal()
        condition.unlock()
    }

    package func wait() -> Result<Value, OutboxError> {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}
