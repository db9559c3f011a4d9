import ArgumentParser
import Foundation
import Outbox
import Synchronization

/// The next message index to hand out, shared by the appending tasks.
final class WorkCounter: Sendable {
    let value = Mutex(0)
}
