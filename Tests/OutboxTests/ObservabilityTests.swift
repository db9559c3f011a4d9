import Foundation
import Instrumentation
import ServiceContextModule
import Testing
@testable import Outbox

private enum TestTraceKey: ServiceContextKey {
    typealias Value = String
}

/// Carries one value under the header `test-trace-id`.
private struct TestInstrument: Instrument {
    func inject<Carrier, Inject>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject: Injector, Inject.Carrier == Carrier {
        if let id = context[TestTraceKey.self] { injector.inject(id, forKey: "test-trace-id", into: &carrier) }
    }

    func extract<Carrier, Extract>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract: Extractor, Extract.Carrier == Carrier {
        if let id = extractor.extract(key: "test-trace-id", from: carrier) { context[TestTraceKey.self] = id }
    }
}

private let bootstrapInstrument: Void = InstrumentationSystem.bootstrap(TestInstrument())

@Suite("Observability and fallbacks")
struct ObservabilityTests {
    @Test func theTraceContextAtAppendTravelsInTheHeaders() async throws {
        _ = bootstrapInstrument
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        var context = ServiceContext.topLevel
        context[TestTraceKey.self] = "trace-42"
        _ = try await ServiceContext.withValue(context) {
            try await outbox.append(sampleMessage(1))
        }
        try await outbox.append(sampleMessage(2))
        try await outbox.close()
        let read = try OutboxReader(path: dir).messages()
        #expect(read[0].message.headers.last == .init("test-trace-id", "trace-42"))
        #expect(read[1].message.headers == sampleMessage(2).headers, "no context, no header")
        #expect(TraceHeaders.extract(read[0].message)[TestTraceKey.self] == "trace-42")
    }

    @Test func withoutInotifyTheSweepAloneDelivers() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "5"]).status == 0)
        let sink = RecordingSink()
        var config = relayConfiguration(sweep: .milliseconds(100))
        config.watchDirectory = false
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, logger: quietLogger)
        let task = Task { try await relay.run() }
        try await eventually("the first five published") { sink.published.count == 5 }
        #expect(try await runOutbox(["append", dir, "--count", "5"]).status == 0)
        try await eventually("the next five published by a sweep") { sink.published.count == 10 }
        task.cancel()
        try await task.value
        #expect(sink.published.map(\.seq) == Array(1...10))
    }
}
