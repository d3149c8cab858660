// Package history records every scan in an embedded SQLite database
// (modernc.org/sqlite, pure Go, no cgo) and tells what changed since the
// previous run of the same inventory.
//
// # Inventory identity
//
// A run belongs to the inventory file it read, identified by the file's
// absolute, cleaned path (Results.Inventory made absolute by the caller).
// The path, not a hash of the partner names, is the identity because adding
// or removing a partner must compare against the same inventory's previous
// run to be reported at all. A hash of the sorted partner names is stored
// beside each run for information only. Moving the inventory file starts a
// new history.
//
// # Rows and baseline
//
// A partner may list several MX hosts, so results are matched across runs
// by partner name and target (host:port, and the address connected to
// instead of resolving the host: targetOf), never by name alone.
//
// The baseline of a run is the latest earlier run of the same inventory
// that was recorded completely, was not interrupted (Results.Incomplete
// false) and audited at least one row (a night whose every inventory row
// was rejected audits none). Without a baseline a run reports no changes.
// Each row is compared with the last earlier run that audited it
// (interrupted runs included: a partner probed before the Ctrl-C was
// audited); a row no earlier run audited is partner_added, and a row of the
// baseline the run does not hold is partner_removed. Rows not probed
// (verdict NotProbed) are not compared. Certificate comparisons need a leaf
// certificate on both sides: a partner that was unreachable last night and
// is back with a new certificate shows as a recovered verdict, not as a
// replaced certificate.
//
// # Errors
//
// Failures are *Error values naming the operation (OpOpen, OpLock,
// OpRecord, OpRead, OpCheck) and wrapping ErrCorrupt for a damaged file and
// ErrReadOnly for one that cannot be written; another scan holding the lock
// is a *LockedError, a database of a newer mxaudit a *SchemaTooNewError.
// Check runs SQLite's integrity check. Options.ReadOnly opens a database for
// the commands that only read, without writing anything.
//
// # Change kinds
//
// Each kind is reported at most once per partner per run; several kinds may
// apply to one partner (a rotation to a new CA is cert_replaced,
// issuer_changed and usually key_changed):
//
//   - partner_added: the partner is in this run's inventory and not in the baseline's.
//   - partner_removed: the partner was in the baseline and is gone.
//   - cert_replaced: the leaf certificate's SHA-256 differs.
//   - issuer_changed: the leaf's issuer DN differs (the Exchange 2013 story: a
//     receive connector pinned with TlsCertificateName <I>old issuer<S>subject
//     rejects the new chain although the subject is the same).
//   - subject_changed: the leaf's subject DN differs.
//   - key_changed: the leaf's public key (SHA-256 of its SubjectPublicKeyInfo) differs.
//   - root_source_changed: the chain moved between a public CA (system roots),
//     a private CA (imported roots) and no trusted root.
//   - verdict_worse: the primary verdict ranks more severe by audit.Verdict.Rank.
//   - verdict_recovered: the primary verdict ranks less severe.
//   - expiry_threshold: the leaf's days left crossed a mark of the later run's
//     thresholds (expiry_warning_days, expiry_error_days, or 0: expired; 30, 7
//     and 0 by default: audit.Thresholds.ExpiryMarks), each run measured by
//     its own clock (Results.Started); only the most severe mark crossed is
//     reported.
//
// # Durability
//
// The database runs in WAL mode with a busy timeout. A scan first inserts
// its run as "running" (Begin), then writes every result in one transaction
// (Record) that marks it "complete". A process killed in between leaves the
// previous runs intact and its own run without results; the next Begin marks
// it "interrupted".
package history
