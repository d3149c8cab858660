package history

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Run statuses.
const (
	StatusRunning     = "running"     // begun, not recorded yet (or its process is still probing)
	StatusComplete    = "complete"    // recorded with every result
	StatusInterrupted = "interrupted" // begun and never recorded: the process died
)

// Abandon marks run id interrupted unless it was recorded: for a scan
// that stops between Begin and Record.
func (db *DB) Abandon(id int64) (err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	_, err = db.c().ExecContext(context.Background(), `UPDATE runs SET status = ? WHERE id = ? AND status = ?`, StatusInterrupted, id, StatusRunning)
	if err != nil {
		return fmt.Errorf("history: abandoning run %d: %w", id, err)
	}
	return nil
}

// recordHook, when set by a test, is called inside Record's transaction
// after every result is written and before the commit.
var recordHook func()

// Begin inserts a run of the inventory at inventory (an absolute path),
// from the default vantage point, of the whole inventory and without a
// label, as running and returns its id: BeginRun with only these.
func (db *DB) Begin(inventory string, started time.Time) (int64, error) {
	return db.BeginRun(RunMeta{Scope: Scope{Inventory: inventory}, Started: started})
}

// BeginRun inserts run m as running and returns its id. Runs still marked
// running are marked interrupted first, as the caller holds the lock and
// their processes are gone: on SQLite every such run (the lock is the
// file's), on PostgreSQL those of m's scope (the lock is the scope's).
func (db *DB) BeginRun(m RunMeta) (_ int64, err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	if err := m.check(); err != nil {
		return 0, err
	}
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("history: beginning run: %w", err)
	}
	defer tx.Rollback()
	id, err := db.beginTx(ctx, db.tx(tx), m)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("history: beginning run: %w", err)
	}
	return id, nil
}

// check refuses a vantage point or label CheckName refuses.
func (m RunMeta) check() error {
	if err := CheckName("vantage point", m.Vantage); err != nil {
		return err
	}
	return CheckName("run label", m.Label)
}

func (db *DB) beginTx(ctx context.Context, c conn, m RunMeta) (int64, error) {
	stale, args := `UPDATE runs SET status = ? WHERE status = ?`, []any{StatusInterrupted, StatusRunning}
	if db.pg {
		stale += ` AND inventory = ? AND vantage = ? AND shard = ? AND shards = ?`
		args = append(args, m.Inventory, m.Vantage, m.Shard.K, m.Shard.N)
	}
	if _, err := c.ExecContext(ctx, stale, args...); err != nil {
		return 0, fmt.Errorf("history: marking interrupted runs: %w", err)
	}
	id, err := insertID(ctx, c, `INSERT INTO runs (inventory, vantage, label, shard, shards, started, status) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		m.Inventory, m.Vantage, m.Label, m.Shard.K, m.Shard.N, m.Started.UnixNano(), StatusRunning)
	if err != nil {
		return 0, fmt.Errorf("history: beginning run: %w", err)
	}
	return id, nil
}

// recordAttempts bounds how often Record runs its transaction again after a
// PostgreSQL deadlock or serialization failure (scanners writing the same
// certificates at once).
const recordAttempts = 5

// Record stores res as run runID in one transaction, after computing the
// changes since the baseline run of the same scope into res.Changes. The
// scope is the one given to Begin; with runID 0, Record begins a run itself
// with res.Inventory (which should then be absolute), res.Vantage,
// res.Shard and res.RunLabel.
func (db *DB) Record(runID int64, res *audit.Results) (err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	cur, err := snapshotOf(res)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = db.record(runID, res, cur)
		if !db.pg || !retryable(err) || attempt == recordAttempts {
			return err
		}
		recordRetries.Add(1)
	}
}

// recordRetries counts Record's transactions run again (a test checks that
// concurrent scanners do not deadlock).
var recordRetries atomic.Int64

func (db *DB) record(runID int64, res *audit.Results, cur *snapshot) error {
	ctx := context.Background()
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history: recording run: %w", err)
	}
	defer sqlTx.Rollback()
	tx := db.tx(sqlTx)
	var scope Scope
	if runID == 0 {
		m, err := metaOf(res)
		if err != nil {
			return fmt.Errorf("history: recording run: %w", err)
		}
		if err := m.check(); err != nil {
			return err
		}
		if runID, err = db.beginTx(ctx, tx, m); err != nil {
			return err
		}
		scope = m.Scope
	} else {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status, inventory, vantage, shard, shards FROM runs WHERE id = ?`, runID).
			Scan(&status, &scope.Inventory, &scope.Vantage, &scope.Shard.K, &scope.Shard.N); err != nil {
			return fmt.Errorf("history: run %d: %w", runID, err)
		}
		if status == StatusComplete {
			return fmt.Errorf("history: run %d is already recorded", runID)
		}
	}
	inventory := scope.Inventory
	cur.RunID = runID
	for i := range cur.States {
		cur.States[i].RunID = runID
	}
	for i := range cur.Partners {
		cur.Partners[i].RunID = runID
	}

	res.Changes = nil
	audited := cur.audited()
	if audited > 0 {
		if res.Changes, err = changesOf(ctx, tx, scope, cur); err != nil {
			return err
		}
	}

	w := db.newWriter(ctx, tx)
	defer w.close()
	failing := 0
	for i := range res.Partners {
		r := &res.Partners[i]
		if r.VerdictSeverity(r.Verdict).Level() >= audit.Error.Level() {
			failing++
		}
	}
	if err := w.results(runID, res.Partners); err != nil {
		return err
	}
	for i, c := range res.Changes {
		if _, err := w.stmt(`INSERT INTO changes (run_id, seq, partner, target, kind, before, after, since_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			runID, i, c.Partner, c.Target, c.Kind, c.Before, c.After, c.SinceRun); err != nil {
			return fmt.Errorf("history: recording changes: %w", err)
		}
	}
	doc, err := w.runDoc(res)
	if err != nil {
		return fmt.Errorf("history: recording run: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET inventory = ?, inventory_hash = ?, started = ?, finished = ?, status = ?, incomplete = ?, partners = ?, failing = ?, audited = ?, doc = ? WHERE id = ?`,
		inventory, inventoryHash(res), res.Started.UnixNano(), res.Finished.UnixNano(), StatusComplete,
		res.Incomplete, len(res.Partners), failing, audited, doc, runID); err != nil {
		return fmt.Errorf("history: recording run: %w", err)
	}
	if recordHook != nil {
		recordHook()
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("history: committing run %d: %w", runID, err)
	}
	return nil
}

// changesOf computes the changes of run cur of scope s: nothing when the
// scope has no baseline yet (the latest earlier complete, uninterrupted
// run of the same inventory, vantage point and shard that audited at least
// one partner: a night whose every row was rejected, or that was
// interrupted, is never one); otherwise each partner of cur against the
// last earlier run from the same vantage point that audited it, and each
// of its targets against the last earlier run from that vantage point that
// audited that target (interrupted runs and other shards included), added
// partners since the baseline, and the baseline's partners cur no longer has.
func changesOf(ctx context.Context, tx conn, s Scope, cur *snapshot) ([]audit.Change, error) {
	var baseID int64
	inventory, vantage := s.Inventory, s.Vantage
	err := tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE inventory = ? AND vantage = ? AND shards = ? AND shard = ? AND status = ? AND NOT incomplete AND audited > 0 AND id < ? ORDER BY id DESC LIMIT 1`,
		inventory, vantage, s.Shard.N, s.Shard.K, StatusComplete, cur.RunID).Scan(&baseID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("history: finding the previous run: %w", err)
	}
	base, err := loadSnapshot(ctx, tx, baseID, true)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(cur.Partners))
	for i := range cur.Partners {
		want[cur.Partners[i].Name] = true
	}
	beforeP := make(map[string]*partnerState, len(cur.Partners))
	beforeT := make(map[string]*state, len(cur.States))
	take := func(s *snapshot) {
		for i := range s.Partners {
			if p := &s.Partners[i]; want[p.Name] && beforeP[p.Name] == nil && p.Verdict != audit.NotProbed {
				beforeP[p.Name] = p
			}
		}
		for i := range s.States {
			if st := &s.States[i]; want[st.Partner] && beforeT[st.key()] == nil && st.Verdict != audit.NotProbed {
				beforeT[st.key()] = st
			}
		}
	}
	// The runs since the baseline (interrupted or empty ones) hold the
	// latest audits of some partners, newest first; then the baseline.
	later, err := runIDs(ctx, tx, `SELECT id FROM runs WHERE inventory = ? AND vantage = ? AND shards = ? AND shard = ? AND status = ? AND id > ? AND id < ? ORDER BY id DESC`,
		inventory, vantage, s.Shard.N, s.Shard.K, StatusComplete, baseID, cur.RunID)
	if err != nil {
		return nil, err
	}
	for _, id := range later {
		s, err := loadSnapshot(ctx, tx, id, true)
		if err != nil {
			return nil, err
		}
		take(s)
	}
	take(base)
	// Partners no run since the baseline audited (new ones, or rows
	// rejected for a while): their last audit from this vantage point
	// before it, in any shard, if any. This scans the inventory's whole
	// history, so only nights with such partners pay for it.
	missing := 0
	for n := range want {
		if beforeP[n] == nil {
			missing++
		}
	}
	if missing > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT p.name, max(r.run_id)
			FROM runs u JOIN results r ON r.run_id = u.id JOIN partners p ON p.id = r.partner_id
			WHERE u.inventory = ? AND u.vantage = ? AND u.status = ? AND u.id < ? AND r.verdict <> ?
			GROUP BY p.name`, inventory, vantage, StatusComplete, baseID, string(audit.NotProbed))
		if err != nil {
			return nil, fmt.Errorf("history: finding the last audit of each partner: %w", err)
		}
		var lastRuns []int64
		for rows.Next() {
			var name string
			var run int64
			if err := rows.Scan(&name, &run); err != nil {
				rows.Close()
				return nil, fmt.Errorf("history: finding the last audit of each partner: %w", err)
			}
			if want[name] && beforeP[name] == nil && !slices.Contains(lastRuns, run) {
				lastRuns = append(lastRuns, run)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("history: finding the last audit of each partner: %w", err)
		}
		slices.Sort(lastRuns)
		slices.Reverse(lastRuns)
		for _, run := range lastRuns {
			s, err := loadSnapshot(ctx, tx, run, true)
			if err != nil {
				return nil, err
			}
			take(s)
		}
	}
	return diff(cur, beforeP, beforeT, base), nil
}

// runIDs returns the ids a query selects.
func runIDs(ctx context.Context, tx conn, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("history: listing runs: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("history: listing runs: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// inventoryHash is the SHA-256 of the sorted partner names, one per line.
func inventoryHash(res *audit.Results) string {
	names := make([]string, 0, len(res.Partners))
	for _, r := range res.Partners {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	h := sha256.Sum256([]byte(strings.Join(names, "\n")))
	return hex.EncodeToString(h[:])
}

// snapshotOf reduces res to the states change detection compares.
func snapshotOf(res *audit.Results) (*snapshot, error) {
	var b snapshotBuilder
	for i := range res.Partners {
		r := &res.Partners[i]
		sts, err := statesOf(r, res.Started)
		if err != nil {
			return nil, err
		}
		b.add(r.Name, r.Domain, r.Verdict, sts...)
	}
	s := b.snapshot(0, res.Started)
	s.Marks = res.RunThresholds().ExpiryMarks()
	return s, nil
}

// statesOf returns the states of r's targets; a result without targets
// (recorded before them, or an upgraded schema-1 file) is one target, the
// host its row named, and a result without host (its domain's DNS failed) has none.
func statesOf(r *audit.Result, started time.Time) ([]state, error) {
	if len(r.Targets) == 0 {
		if r.Host == "" {
			return nil, nil
		}
		st := state{Partner: r.Name, Target: stateKey(r.Host, r.Port, r.Address), MX: r.Host, Address: r.Address, Port: r.Port,
			Verdict: r.Verdict, RootStore: r.Root.Store, Started: started}
		if l := r.Leaf(); l != nil {
			info, err := leafOf(l)
			if err != nil {
				return nil, fmt.Errorf("history: partner %q: %w", r.Name, err)
			}
			st.Leaf = info
		}
		return []state{st}, nil
	}
	out := make([]state, 0, len(r.Targets))
	for k := range r.Targets {
		t := &r.Targets[k]
		st := state{Partner: r.Name, Target: stateKey(t.MX, t.Port, t.Address), MX: t.MX, Address: t.Address, Port: t.Port,
			Verdict: t.Verdict, RootStore: t.Root.Store, Started: started}
		if l := t.Leaf(); l != nil {
			info, err := leafOf(l)
			if err != nil {
				return nil, fmt.Errorf("history: partner %q target %s: %w", r.Name, t.Key(), err)
			}
			st.Leaf = info
		}
		out = append(out, st)
	}
	return out, nil
}

// certSHA returns the upper-case hex SHA-256 of c, from its DER when it has one.
func certSHA(c *audit.Cert) string {
	if len(c.DER) > 0 {
		h := sha256.Sum256(c.DER)
		return strings.ToUpper(hex.EncodeToString(h[:]))
	}
	return strings.ToUpper(c.SHA256)
}

func leafOf(c *audit.Cert) (*leafInfo, error) {
	info := &leafInfo{SHA256: certSHA(c), Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfter}
	if len(c.DER) > 0 {
		x, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return nil, fmt.Errorf("leaf certificate: %w", err)
		}
		h := sha256.Sum256(x.RawSubjectPublicKeyInfo)
		info.KeySHA = hex.EncodeToString(h[:])
	}
	return info, nil
}
