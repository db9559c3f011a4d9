import Foundation

/// A coalescing wake-up: any number of ``signal()`` calls while nobody waits make the next ``wait(for:)``
/// return at once, once. A burst of commits therefore becomes one wake-up and then batches, not a storm.
final class WakeSignal: Sendable {
    private let state = Shared<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Wakes the waiter, or the next one.
    func signal() {
        var waiter: CheckedContinuation<Void, Never>?
        state.mutate { s in
            if let w = s.waiter {
                waiter = w
                s.waiter = nil
            } else {
                s.pending = true
            }
        }
        waiter?.resume()
    }

    /// Returns after a signal, or after `timeout`.
    func wait(for timeout: Duration) async {
        let timer = Task { [self] in
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { signal() }
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            var resumeNow = false
            state.mutate { s in
                if s.pending {
                    s.pending = false
                    resumeNow = true
                } else {
                    s.waiter = c
                }
            }
            if resumeNow { c.resume() }
        }
        timer.cancel()
    }
}
