package history

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
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
// res.Shard and res.RunLabel. It is a Recorder fed res.Partners in one batch.
func (db *DB) Record(runID int64, res *audit.Results) (err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	for attempt := 1; ; attempt++ {
		err = db.record(runID, res)
		if !db.pg || !retryable(err) || attempt == recordAttempts {
			return err
		}
		recordRetries.Add(1)
	}
}

// recordRetries counts Record's transactions run again (a test checks that
// concurrent scanners do not deadlock).
var recordRetries atomic.Int64

func (db *DB) record(runID int64, res *audit.Results) error {
	head := *res
	head.Partners, head.Changes = nil, nil
	rec, err := db.Recorder(runID, &head)
	if err != nil {
		return err
	}
	defer rec.Close()
	changes, err := rec.Add(res.Partners)
	if err != nil {
		return err
	}
	end, err := rec.Finish(&head)
	if err != nil {
		return err
	}
	res.Changes = append(changes, end...)
	return nil
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
