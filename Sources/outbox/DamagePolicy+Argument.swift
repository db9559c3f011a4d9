import ArgumentParser
import Outbox

/// `--on-damage refuse|quarantine` (`append`, `relay`).
extension DamagePolicy: ExpressibleByArgument {}

/// `--on-full reject|drop-oldest` (`append`).
extension FullPolicy: ExpressibleByArgument {}
