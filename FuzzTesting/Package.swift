// swift-tools-version: 6.2
// libFuzzer harnesses for the Outbox file format. Build and run them with `scripts/fuzz` from the
// repository root (it builds with the fuzzer and address sanitizers and checks both are in).
import Foundation
import PackageDescription

// A path dependency is named after its directory, whatever the checkout is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let outbox = Target.Dependency.product(name: "OutboxFuzzSupport", package: root.lastPathComponent)

let package = Package(
    name: "OutboxFuzzing",
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(name: "FuzzSegment", dependencies: [outbox]),
        .executableTarget(name: "FuzzTombstones", dependencies: [outbox]),
        .executableTarget(name: "FuzzDirectory", dependencies: [outbox]),
    ],
    swiftLanguageModes: [.v6]
)
