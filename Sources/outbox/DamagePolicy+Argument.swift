import ArgumentParser
import Outbox

/// `--on-damage refuse|quarantine` (`append`, `relay`).
extension DamagePolicy: ExpressibleByArgument {}
