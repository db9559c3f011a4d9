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
