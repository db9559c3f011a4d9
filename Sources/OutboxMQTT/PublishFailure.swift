import CMosquitto
import Foundation
import Logging
import Outbox

/// A publish outcome carried as an error (for `Result`).
struct PublishFailure: Error {
    let outcome: PublishOutcome
    init(_ outcome: PublishOutcome) { self.outcome = outcome }
}
