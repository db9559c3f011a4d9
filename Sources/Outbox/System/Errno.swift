#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// An `errno` value raised by a call through ``SystemCalls``.
package struct Errno: Error, Equatable, Sendable {
    package var code: Int32
    package init(code: Int32) { self.code = code }
}

extension OutboxError {
    /// ``failed(_:errno:path:)`` for an error thrown by the syscall seam (`EIO` when it carries no errno).
    static func failed(_ call: SystemCall, _ error: any Error, path: String?) -> OutboxError {
        failed(call, errno: (error as? Errno)?.code ?? EIO, path: path)
    }
}
