package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// OpPrune is the operation of an *Error from Prune.
const OpPrune = "prune"

// pruneLock is the PostgreSQL advisory lock key Prune takes exclusively in
// its transaction and every Recorder shared in its run's: a prune waits for
// no scan and is refused while one records; a scan that begins recording
// during a prune waits for it to commit.
const pruneLock = int64(applicationID)<<32 | 2

// PruneOptions say which runs Prune removes.
type PruneOptions struct {
	// Before is the cutoff: runs (of any status) started before it are removed.
	Before time.Time
	// DryRun makes Prune report what it would remove and remove nothing.
	DryRun bool
	// Vacuum runs SQLite's VACUUM after the removal and reports the bytes freed (SQLite only).
	Vacuum bool
}

// PruneReport says what Prune removed, or would remove with DryRun.
type PruneReport struct {
	Path   string    `json:"path"`
	Before time.Time `json:"before"`
	DryRun bool      `json:"dry_run"`
	// Runs are the ids of the runs removed.
	Runs []int64 `json:"runs"`
	// Kept are the runs started before the cutoff kept as their scope's baseline.
	Kept []int64 `json:"kept"`
	// Rows counts the rows removed per table.
	Rows map[string]int64 `json:"rows"`
	// Vacuumed says VACUUM ran (SQLite with Vacuum).
	Vacuumed bool `json:"vacuumed"`
	// BytesFreed is what VACUUM gave back to the file system.
	BytesFreed int64 `json:"bytes_freed"`
}

// pruneChunk is how many ids one DELETE names.
const pruneChunk = 500

// Prune removes the runs started before o.Before with their results,
// targets and changes, then the certificates, partner rows and result
// bodies no remaining run references, in one transaction, keeping the
// latest complete run of each scope (and the latest that can be a
// baseline) whatever its age.
//
// The caller holds the SQLite file lock (TryLock). On PostgreSQL Prune
// takes its own lock in its transaction: it is refused with a
// *LockedError while a scan records, and scans that begin recording wait
// for it.
func (db *DB) Prune(o PruneOptions) (_ *PruneReport, err error) {
	defer func() { err = db.wrap(OpPrune, err) }()
	if db.readOnly {
		return nil, fmt.Errorf("history: prune: %w", ErrReadOnly)
	}
	if o.Vacuum && db.pg {
		return nil, errors.New("history: prune: VACUUM is for SQLite (PostgreSQL's autovacuum reclaims the space)")
	}
	ctx := context.Background()
	rep := &PruneReport{Path: db.path, Before: o.Before, DryRun: o.DryRun, Runs: []int64{}, Kept: []int64{}, Rows: map[string]int64{}}
	if err := db.pruneTx(ctx, o, rep); err != nil {
		return nil, fmt.Errorf("history: prune: %w", err)
	}
	if o.DryRun {
		return rep, nil
	}
	if o.Vacuum {
		if rep.BytesFreed, err = db.vacuum(ctx); err != nil {
			return rep, fmt.Errorf("history: prune: the runs are removed, VACUUM failed: %w", err)
		}
		rep.Vacuumed = true
	}
	return rep, nil
}

// pruneTx runs the prune in one transaction, rolled back for a dry run.
// On SQLite its connection checks no foreign key meanwhile: a deleted
// certificate or body would be looked for in every result (no index
// leads from them), and the statements only delete unreferenced rows
// (Check verifies the keys).
func (db *DB) pruneTx(ctx context.Context, o PruneOptions, rep *PruneReport) error {
	c, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if !db.pg {
		if _, err := c.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
			return err
		}
		defer c.ExecContext(ctx, `PRAGMA foreign_keys = ON`)
	}
	sqlTx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer sqlTx.Rollback()
	tx := db.tx(sqlTx)
	if db.pg {
		if err := pruneLockPG(ctx, tx, db.path); err != nil {
			return err
		}
	}
	if err := db.prune(ctx, tx, o.Before, rep); err != nil || o.DryRun {
		return err
	}
	return sqlTx.Commit()
}

// pruneLockPG takes the prune lock for the transaction, or says which
// session records a run.
func pruneLockPG(ctx context.Context, tx conn, path string) error {
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?)`, pruneLock).Scan(&ok); err != nil {
		return fmt.Errorf("history lock: %w", err)
	}
	if ok {
		return nil
	}
	var who sql.NullString
	key := pruneLock
	tx.QueryRowContext(ctx, `SELECT a.application_name || coalesce(' from ' || host(a.client_addr), '')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = ? AND l.objid::bigint = ?
		LIMIT 1`, int64(uint64(key)>>32), int64(uint32(key))).Scan(&who)
	return &LockedError{Path: path, Scope: "the database (a scan is recording)", Holder: who.String}
}

// holdPruneLock makes a run's transaction wait for a prune and keep
// prunes out until it ends (PostgreSQL).
func holdPruneLock(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, pruneLock)
	return err
}

// prune does Prune's work in tx, filling rep.
func (db *DB) prune(ctx context.Context, tx conn, before time.Time, rep *PruneReport) error {
	kept, err := keptRuns(ctx, tx)
	if err != nil {
		return err
	}
	old, err := runIDs(ctx, tx, `SELECT id FROM runs WHERE started < ? ORDER BY id`, before.UnixNano())
	if err != nil {
		return err
	}
	for _, id := range old {
		if kept[id] {
			rep.Kept = append(rep.Kept, id)
		} else {
			rep.Runs = append(rep.Runs, id)
		}
	}
	for start := 0; start < len(rep.Runs); start += pruneChunk {
		chunk := rep.Runs[start:min(start+pruneChunk, len(rep.Runs))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		for _, table := range []string{"changes", "targets", "results"} {
			if err := deleteRows(ctx, tx, rep, table, `DELETE FROM `+table+` WHERE run_id IN (`+marks(len(args))+`)`, args...); err != nil {
				return err
			}
		}
		if err := deleteRows(ctx, tx, rep, "runs", `DELETE FROM runs WHERE id IN (`+marks(len(args))+`)`, args...); err != nil {
			return err
		}
	}
	return db.pruneInterned(ctx, tx, rep)
}

// keptRuns returns the runs Prune never removes: of each scope, the latest
// complete run (whose delivery streaks the next run carries) and the latest
// that can be a baseline (complete, uninterrupted, audited a partner).
func keptRuns(ctx context.Context, tx conn) (map[int64]bool, error) {
	ids, err := runIDs(ctx, tx, `SELECT max(id) FROM runs WHERE status = ? GROUP BY inventory, vantage, shards, shard
		UNION SELECT max(id) FROM runs WHERE status = ? AND NOT incomplete AND audited > 0 GROUP BY inventory, vantage, shards, shard`,
		StatusComplete, StatusComplete)
	if err != nil {
		return nil, err
	}
	kept := map[int64]bool{}
	for _, id := range ids {
		kept[id] = true
	}
	return kept, nil
}

// deleteRows runs a DELETE and counts its rows in rep.Rows[table].
func deleteRows(ctx context.Context, tx conn, rep *PruneReport, table, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("removing %s: %w", table, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("removing %s: %w", table, err)
	}
	rep.Rows[table] += n
	return nil
}

// pruneInterned removes the partner rows, bodies and certificates no
// remaining row references (also those a failed run interned). SQLite
// reads a NOT IN list once; PostgreSQL anti-joins NOT EXISTS.
func (db *DB) pruneInterned(ctx context.Context, tx conn, rep *PruneReport) error {
	if err := deleteRows(ctx, tx, rep, "partners", `DELETE FROM partners WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.partner_id = partners.id)`); err != nil {
		return err
	}
	bodies := `DELETE FROM bodies WHERE id NOT IN (SELECT body_id FROM results)`
	certs := `SELECT id, sha256 FROM certs WHERE id NOT IN (SELECT leaf_id FROM results WHERE leaf_id IS NOT NULL)
		AND id NOT IN (SELECT leaf_id FROM targets WHERE leaf_id IS NOT NULL)`
	if db.pg {
		bodies = `DELETE FROM bodies WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.body_id = bodies.id)`
		certs = `SELECT id, sha256 FROM certs c WHERE NOT EXISTS (SELECT 1 FROM results r WHERE r.leaf_id = c.id)
			AND NOT EXISTS (SELECT 1 FROM targets t WHERE t.leaf_id = c.id)`
	}
	if err := deleteRows(ctx, tx, rep, "bodies", bodies); err != nil {
		return err
	}
	unused, err := certsByID(ctx, tx, certs)
	if err != nil || len(unused) == 0 {
		return err
	}
	// Chains and private roots name their certificates by SHA-256 inside
	// the stored documents: a certificate a remaining document names stays.
	if err := dropNamed(ctx, tx, `SELECT id, doc FROM bodies WHERE id > ? ORDER BY id LIMIT 500`, unused, docCerts); err != nil {
		return err
	}
	if err := dropNamed(ctx, tx, `SELECT id, doc FROM runs WHERE id > ? AND doc IS NOT NULL ORDER BY id LIMIT 500`, unused, docCerts); err != nil {
		return err
	}
	ids := make([]any, 0, len(unused))
	for _, id := range unused {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += pruneChunk {
		chunk := ids[start:min(start+pruneChunk, len(ids))]
		if err := deleteRows(ctx, tx, rep, "certs", `DELETE FROM certs WHERE id IN (`+marks(len(chunk))+`)`, chunk...); err != nil {
			return err
		}
	}
	return nil
}

// certsByID reads the certificates q selects (id, sha256), by SHA-256.
func certsByID(ctx context.Context, tx conn, q string) (map[string]int64, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("finding unused certificates: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id int64
		var sha string
		if err := rows.Scan(&id, &sha); err != nil {
			return nil, fmt.Errorf("finding unused certificates: %w", err)
		}
		out[sha] = id
	}
	return out, rows.Err()
}

// dropNamed reads the documents q pages through (id, doc, after an id)
// and removes from unused every certificate names finds in them.
func dropNamed(ctx context.Context, tx conn, q string, unused map[string]int64, names func([]byte) ([]string, error)) error {
	var after int64
	for len(unused) > 0 {
		rows, err := tx.QueryContext(ctx, q, after)
		if err != nil {
			return fmt.Errorf("reading stored documents: %w", err)
		}
		n := 0
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&after, &doc); err != nil {
				rows.Close()
				return fmt.Errorf("reading stored documents: %w", err)
			}
			n++
			shas, err := names(doc)
			if err != nil {
				rows.Close()
				return fmt.Errorf("stored document %d: %w", after, err)
			}
			for _, s := range shas {
				delete(unused, s)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading stored documents: %w", err)
		}
		if n == 0 {
			break
		}
	}
	return nil
}

// certRefs is what a stored document says of the certificates it names.
type certRefs struct {
	Chain   []struct{ SHA256 string } `json:"chain"`
	Targets []struct {
		Chain []struct{ SHA256 string } `json:"chain"`
	} `json:"targets"`
	PrivateRoots []struct{ SHA256 string } `json:"private_roots"`
}

// docCerts returns the SHA-256 of every certificate a stored body's
// chains or a run's private roots name.
func docCerts(doc []byte) ([]string, error) {
	b, err := inflate(doc)
	if err != nil {
		return nil, err
	}
	var refs certRefs
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range refs.Chain {
		out = append(out, c.SHA256)
	}
	for _, t := range refs.Targets {
		for _, c := range t.Chain {
			out = append(out, c.SHA256)
		}
	}
	for _, c := range refs.PrivateRoots {
		out = append(out, c.SHA256)
	}
	return out, nil
}

// vacuum rebuilds the SQLite file and returns the bytes it freed.
func (db *DB) vacuum(ctx context.Context) (int64, error) {
	size := func() (int64, error) {
		var pages, pageSize int64
		if err := db.sql.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
			return 0, err
		}
		err := db.sql.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize)
		return pages * pageSize, err
	}
	was, err := size()
	if err != nil {
		return 0, err
	}
	if _, err := db.sql.ExecContext(ctx, `VACUUM`); err != nil {
		return 0, err
	}
	if _, err := db.sql.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return 0, err
	}
	now, err := size()
	return was - now, err
}

// ParseCutoff reads a retention cutoff: a number of days before now ("90d", "0d" for now)
// or a date ("2026-06-30", the start of that day in now's time zone).
func ParseCutoff(s string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("%q: give a number of days (90d; 0d: every scan but the baselines) or a date (2026-06-30)", s)
		}
		return now.AddDate(0, 0, -n), nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, now.Location())
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a number of days (90d) nor a date (2026-06-30)", s)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("%q is in the future", s)
	}
	return t, nil
}

// WritePrune writes what a prune removed (or would remove) as text.
func WritePrune(w io.Writer, rep *PruneReport) error {
	verb := "removed"
	if rep.DryRun {
		verb = "would remove (dry run, nothing removed)"
	}
	cutoff := rep.Before.UTC().Format("2006-01-02 15:04:05 UTC")
	if _, err := fmt.Fprintf(w, "%s: %s %d runs started before %s%s\n", rep.Path, verb, len(rep.Runs), cutoff, idList(rep.Runs)); err != nil {
		return err
	}
	if len(rep.Kept) > 0 {
		fmt.Fprintf(w, "kept %d runs started before the cutoff%s: the latest complete run of each scope is the baseline the next scan's changes are computed against\n", len(rep.Kept), idList(rep.Kept))
	}
	var rows []string
	for _, t := range []string{"results", "targets", "changes", "certs", "partners", "bodies"} {
		rows = append(rows, fmt.Sprintf("%s %d", t, rep.Rows[t]))
	}
	fmt.Fprintf(w, "rows: %s\n", strings.Join(rows, ", "))
	if rep.Vacuumed {
		fmt.Fprintf(w, "VACUUM freed %d bytes\n", rep.BytesFreed)
	}
	return nil
}

// idList is " (ids 1, 2, 3)", the first 20 of ids, or "".
func idList(ids []int64) string {
	if len(ids) == 0 {
		return ""
	}
	var parts []string
	for _, id := range ids[:min(len(ids), 20)] {
		parts = append(parts, strconv.FormatInt(id, 10))
	}
	more := ""
	if len(ids) > 20 {
		more = ", ..."
	}
	return " (ids " + strings.Join(parts, ", ") + more + ")"
}
