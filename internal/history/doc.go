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
// # Partners, targets and baseline
//
// A partner (all inventory rows of one name) has targets: every address of
// every MX host of its domain, or of the host its rows name (the targets
// table, schema 5). Results are matched across runs by partner name, and
// targets by what they audit (stateKey: "mx.example:25 via 192.0.2.1"),
// never by name alone. A run recorded before targets (schema 4 and older)
// has one target per row: its host, keyed host:port (and the address the
// row gave); such a target is compared with each address of the same host
// now, so the first run after the upgrade reports no change.
//
// The baseline of a run is the latest earlier run of the same scope
// (inventory, vantage point and shard, schema 4) that was recorded
// completely, was not interrupted (Results.Incomplete false) and audited at
// least one partner (a night whose every inventory row was rejected audits
// none); without one, the latest such run of the inventory and vantage
// point in another shard layout (--shard N changed). Without a baseline a
// run reports no changes. Each partner is compared with the last earlier
// run from the same vantage point, in any shard, that audited it (first
// among the runs since the baseline, then before), and each of its targets
// with the last of those runs that audited that target (interrupted runs
// included: a partner probed before the Ctrl-C was audited); a partner no
// earlier run audited is partner_added once it is probed, and a partner of
// the baseline the run does not hold is partner_removed (of a baseline of
// another shard layout, only the partners the run's shard holds).
//
// # Recording a run as it streams
//
// A Recorder writes a run batch by batch in one transaction: Prior (the
// delivery streaks of the batch's targets), Add (its rows and changes),
// Finish (the removed partners, found by SQL after the run's rows are
// written, and the run's row). Every lookup is an indexed query per batch
// (results_by_partner, schema 6); memory does not grow with the run.
// Record is a Recorder fed one batch. EachResult and EachLabelResult read
// a run back page by page, RunHead and LabelHead its head.
//
// # Delivery streaks
//
// Each target stores failing_since (schema 6): the start of the unbroken
// streak of runs of its scope in which our MTA's delivery to it did not
// flow (deferred or bounces), carried from the target in the previous
// complete run of the scope; a run in which it flowed, was undetermined or
// was not audited breaks it. Runs recorded before schema 6 carry none.
// Partners and targets not probed (verdict NotProbed) are not compared.
// A partner whose DNS failed on one side (no target) is compared by its
// verdict alone. Certificate comparisons need a leaf certificate on both
// sides: a target that was unreachable last night and is back with a new
// certificate shows as a recovered verdict, not as a replaced certificate.
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
// Each kind is reported at most once per target per run; several kinds may
// apply to one target (a rotation to a new CA is cert_replaced,
// issuer_changed and usually key_changed):
//
//   - partner_added: the partner is in this run's inventory and not in the baseline's.
//   - partner_removed: the partner was in the baseline and is gone.
//   - mx_added: an MX host the partner did not have (Target names it, After its addresses).
//   - mx_removed: an MX host the partner had is gone.
//   - address_added: an MX host of the partner has an address it did not have (Target names it).
//   - address_removed: an address of an MX host of the partner is gone.
//
// The kinds below are reported per target (Change.Target). The same change
// on several targets of a partner is one change naming them all (an MX
// host whose every address has it by the host's name: a renewal on every
// address is one cert_replaced, a certificate that changed on one address
// only names that address). A partner whose worst verdict changed only
// through targets that came or went gets one verdict change with no target.
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
// (Record, or a Recorder from its first Add to Finish) that marks it "complete". A process killed in between leaves the
// previous runs intact and its own run without results; the next Begin marks
// it "interrupted".
package history
