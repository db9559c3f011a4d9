/// What opening an outbox does with damage it would otherwise refuse (FORMAT.md §7).
public enum DamagePolicy: String, Sendable, CaseIterable {
    /// Refuse to open, naming the file and offset; an operator runs `outbox verify --repair`. The default.
    case refuse
    /// For an unattended device: move the damaged file intact into `quarantine/` with a record of why,
    /// put in its place a copy holding every intact message (holes stand for the numbers lost, which
    /// the relay tombstones as lost), log it at critical level, count it in
    /// `outbox_quarantined_files_total`, and open. A file of an unknown format version is still refused.
    case quarantine
}
