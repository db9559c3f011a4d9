import Instrumentation
import ServiceContextModule
import Tracing

/// Puts trace context into message headers at append and takes it out at publish.
struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [OutboxMessage.Header]) {
        carrier.append(.init(key, value))
    }
}

struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [OutboxMessage.Header]) -> String? {
        carrier.first { $0.name == key }?.value
    }
}

enum TraceHeaders {
    /// Adds the current trace context (if a task-local one is set) to `messages`' headers.
    static func inject(into messages: inout [OutboxMessage]) {
        guard let context = ServiceContext.current else { return }
        for i in messages.indices {
            InstrumentationSystem.instrument.inject(context, into: &messages[i].headers, using: HeaderInjector())
        }
    }

    /// The trace context carried by a message's headers.
    static func extract(_ m: OutboxMessage) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(m.headers, into: &context, using: HeaderExtractor())
        return context
    }
}
