// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "Outbox",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Outbox", targets: ["Outbox"]),
        .library(name: "OutboxNATS", targets: ["OutboxNATS"]),
        .library(name: "OutboxMQTT", targets: ["OutboxMQTT"]),
        .library(name: "OutboxKafka", targets: ["OutboxKafka"]),
        .executable(name: "outbox", targets: ["OutboxCLI"]),
        // For an app's own tests: an in-memory sink that records what it was given, and a relay run to completion.
        .library(name: "OutboxTesting", targets: ["OutboxTesting"]),
        // For the libFuzzer harnesses of FuzzTesting/ only: an in-memory file system and fuzz entry points.
        .library(name: "OutboxFuzzSupport", targets: ["OutboxFuzzSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Encryption at rest (FORMAT.md §10): AES-GCM, ChaCha20-Poly1305, HKDF and HMAC.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // `swift package generate-documentation --target Outbox` (a plugin: nothing of it is linked).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "Outbox",
            dependencies: [
                "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "OutboxTesting",
            dependencies: ["Outbox"]
        ),
        .target(
            name: "OutboxFuzzSupport",
            dependencies: [
                "Outbox",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .systemLibrary(
            name: "CNats",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .target(
            name: "OutboxNATS",
            dependencies: [
                "Outbox",
                "CNats",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .target(
            name: "OutboxMQTT",
            dependencies: [
                "Outbox",
                "CMosquitto",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "OutboxKafka",
            dependencies: [
                "Outbox",
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "OutboxBench",
            dependencies: ["Outbox", "CSQLite", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .executableTarget(
            name: "OutboxCLI",
            dependencies: [
                "Outbox",
                "OutboxBench",
                "OutboxNATS",
                "OutboxMQTT",
                "OutboxKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Sources/outbox"
        ),
        .target(
            name: "OutboxTestSupport",
            dependencies: [
                "Outbox",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/OutboxTestSupport"
        ),
        // The brokers the broker suites start (nats-server, mosquitto) and the probes that read back what
        // the sinks stored.
        .target(
            name: "OutboxBrokerTestSupport",
            dependencies: ["Outbox", "OutboxTestSupport", "OutboxMQTT", "CNats", "CMosquitto"],
            path: "Tests/OutboxBrokerTestSupport"
        ),
        .testTarget(
            name: "OutboxTests",
            dependencies: [
                "Outbox",
                "OutboxBench",
                "OutboxFuzzSupport",
                "OutboxCLI",
                "OutboxTestSupport",
                "OutboxTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "OutboxNATSTests",
            dependencies: [
                "Outbox",
                "OutboxCLI",
                "OutboxTestSupport",
                "OutboxBrokerTestSupport",
                "OutboxNATS",
                "CNats",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "OutboxMQTTTests",
            dependencies: [
                "Outbox",
                "OutboxCLI",
                "OutboxTestSupport",
                "OutboxBrokerTestSupport",
                "OutboxMQTT",
                "CMosquitto",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Routes to several brokers at once (file, NATS JetStream and MQTT from one relay).
        .testTarget(
            name: "OutboxRouteBrokerTests",
            dependencies: [
                "Outbox",
                "OutboxCLI",
                "OutboxTestSupport",
                "OutboxBrokerTestSupport",
            ]
        ),
        .testTarget(
            name: "OutboxKafkaTests",
            dependencies: [
                "Outbox",
                "OutboxCLI",
                "OutboxTestSupport",
                "OutboxKafka",
                "CRdKafka",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
