/// Read-only inspection of outbox files, built on the library's own decoders: ``rawWalk(path:)`` and
/// ``verify(path:keys:)``; and ``repair(path:keys:logger:)``, the one that changes files (never deleting a byte
/// it has not kept a copy of).
public enum OutboxInspector {}
