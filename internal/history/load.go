package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// ErrNoRun says a run id does not exist or has no recorded results.
var ErrNoRun = errors.New("no such recorded run")

// Run is one row of the run list.
type Run struct {
	ID         int64     `json:"id"`
	Inventory  string    `json:"inventory"`
	Vantage    string    `json:"vantage,omitempty"`   // the vantage point the probes left from
	Label      string    `json:"run_label,omitempty"` // the run label tying shards together
	Shard      string    `json:"shard,omitempty"`     // the slice of the inventory, "K/N"
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished,omitzero"`
	Status     string    `json:"status"`     // StatusRunning, StatusComplete or StatusInterrupted
	Incomplete bool      `json:"incomplete"` // Results.Incomplete: some partners were not probed
	Partners   int       `json:"partners"`
	Failing    int       `json:"failing"` // partners at severity error or critical
	Changes    int       `json:"changes"`
}

// Scope returns the scope the run belongs to.
func (r Run) Scope() Scope {
	sp, _ := shard.Parse(r.Shard) // written by this package from a valid Spec
	return Scope{Inventory: r.Inventory, Vantage: r.Vantage, Shard: sp}
}

// queryer is a conn (any backend), *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// RunFilter narrows Runs.
type RunFilter struct {
	Inventory string // only runs of this inventory path; "" for all
	Limit     int    // the newest Limit runs; 0 for all
}

// Runs lists runs, oldest first.
func (db *DB) Runs(f RunFilter) (_ []Run, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	where, args := "", []any(nil)
	if f.Inventory != "" {
		where, args = ` WHERE r.inventory = ?`, []any{f.Inventory}
	}
	return db.runs(where, args, f.Limit)
}

// scopeCols are the scope columns of runs r, as constants on a database
// older than schema 4 read without migrating it.
func (db *DB) scopeCols() string {
	if db.schema > 0 && db.schema < 4 {
		return `'', '', 0, 0`
	}
	return `r.vantage, r.label, r.shard, r.shards`
}

func (db *DB) runs(where string, args []any, limit int) ([]Run, error) {
	q := `SELECT r.id, r.inventory, ` + db.scopeCols() + `, r.started, r.finished, r.status, r.incomplete, r.partners, r.failing,
		(SELECT count(*) FROM changes c WHERE c.run_id = r.id) FROM runs r` + where + ` ORDER BY r.id DESC`
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := db.c().QueryContext(context.Background(), q, args...)
	if err != nil {
		return nil, fmt.Errorf("history: listing runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, finished int64
		var sp shard.Spec
		if err := rows.Scan(&r.ID, &r.Inventory, &r.Vantage, &r.Label, &sp.K, &sp.N, &started, &finished, &r.Status, &r.Incomplete, &r.Partners, &r.Failing, &r.Changes); err != nil {
			return nil, fmt.Errorf("history: listing runs: %w", err)
		}
		r.Started, r.Finished, r.Shard = fromNanos(started), fromNanos(finished), sp.String()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: listing runs: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// LastRuns returns the ids of the two newest complete runs, the older
// first, for "diff" without arguments: the newest complete run and the
// complete run of the same scope (inventory, vantage point, shard) before it.
func (db *DB) LastRuns() (a, b int64, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	latest, err := db.runs(` WHERE r.status = ?`, []any{StatusComplete}, 1)
	if err != nil {
		return 0, 0, err
	}
	if len(latest) == 0 {
		return 0, 0, fmt.Errorf("history: %w: the database has no complete run", ErrNoRun)
	}
	s := latest[0].Scope()
	b = latest[0].ID
	if a, err = db.latestOf(s, b); err != nil {
		return 0, 0, fmt.Errorf("history: %w: run %d is the only complete run of %s", ErrNoRun, b, s)
	}
	return a, b, nil
}

// Latest returns the id of the newest complete run of inventory ("" for any),
// from any vantage point and shard.
func (db *DB) Latest(inventory string) (_ int64, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	var id int64
	err = db.c().QueryRowContext(context.Background(),
		`SELECT id FROM runs WHERE status = ? AND (? = '' OR inventory = ?) ORDER BY id DESC LIMIT 1`,
		StatusComplete, inventory, inventory).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("history: %w of %q", ErrNoRun, inventory)
	}
	if err != nil {
		return 0, fmt.Errorf("history: %w", err)
	}
	return id, nil
}

// LatestOf returns the id of the newest complete run of scope s.
func (db *DB) LatestOf(s Scope) (_ int64, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	return db.latestOf(s, 1<<62)
}

// latestOf returns the newest complete run of s before run id before.
func (db *DB) latestOf(s Scope, before int64) (int64, error) {
	var id int64
	cols := `inventory = ? AND vantage = ? AND shards = ? AND shard = ?`
	args := []any{s.Inventory, s.Vantage, s.Shard.N, s.Shard.K}
	if db.schema > 0 && db.schema < 4 {
		cols, args = `inventory = ?`, []any{s.Inventory}
	}
	err := db.c().QueryRowContext(context.Background(),
		`SELECT id FROM runs WHERE status = ? AND `+cols+` AND id < ? ORDER BY id DESC LIMIT 1`,
		append(append([]any{StatusComplete}, args...), before)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("history: %w of %s", ErrNoRun, s)
	}
	if err != nil {
		return 0, fmt.Errorf("history: %w", err)
	}
	return id, nil
}

// Run returns the list entry of run id.
func (db *DB) Run(id int64) (Run, error) {
	runs, err := db.runs(` WHERE r.id = ?`, []any{id}, 0)
	if err != nil {
		return Run{}, err
	}
	if len(runs) == 0 {
		return Run{}, fmt.Errorf("history: run %d: %w", id, ErrNoRun)
	}
	return runs[0], nil
}

// Diff returns the changes from run a to run b, computed as Record computes
// them (SinceRun is a). The runs may belong to different inventories.
func (db *DB) Diff(a, b int64) (_ []audit.Change, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	ctx := context.Background()
	prev, err := loadSnapshot(ctx, db.c(), a, db.hasTargets())
	if err != nil {
		return nil, err
	}
	cur, err := loadSnapshot(ctx, db.c(), b, db.hasTargets())
	if err != nil {
		return nil, err
	}
	return diffSnapshots(prev, cur), nil
}

// runStatus returns the started time of a complete run, or ErrNoRun.
func runStarted(ctx context.Context, q queryer, id int64) (time.Time, error) {
	var started int64
	var status string
	err := q.QueryRowContext(ctx, `SELECT started, status FROM runs WHERE id = ?`, id).Scan(&started, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("history: run %d: %w", id, ErrNoRun)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("history: run %d: %w", id, err)
	}
	if status != StatusComplete {
		return time.Time{}, fmt.Errorf("history: run %d is %s: %w", id, status, ErrNoRun)
	}
	return fromNanos(started), nil
}

// runMarks returns the expiry marks of the thresholds run id was graded by
// (the defaults for a run recorded before thresholds were).
func runMarks(ctx context.Context, q queryer, id int64) ([]int, error) {
	var doc []byte
	if err := q.QueryRowContext(ctx, `SELECT doc FROM runs WHERE id = ?`, id).Scan(&doc); err != nil {
		return nil, fmt.Errorf("history: run %d: %w", id, err)
	}
	var res audit.Results
	if len(doc) > 0 {
		if err := unmarshalDeflated(doc, &res); err != nil {
			return nil, fmt.Errorf("history: run %d: %w", id, err)
		}
	}
	return res.RunThresholds().ExpiryMarks(), nil
}

// partnerRef is the part of a stored partner row change detection needs.
type partnerRef struct {
	audit.Partner
}

// loadSnapshot reads run id back as change detection sees it; withTargets
// says the database has the targets table (schema 5), which a read-only
// older database lacks.
func loadSnapshot(ctx context.Context, q queryer, id int64, withTargets bool) (*snapshot, error) {
	started, err := runStarted(ctx, q, id)
	if err != nil {
		return nil, err
	}
	marks, err := runMarks(ctx, q, id)
	if err != nil {
		return nil, err
	}
	s, err := loadRows(ctx, q, id, started, byRun, `x.run_id = ?`, []any{id}, withTargets)
	if err != nil {
		return nil, err
	}
	s.Marks = marks
	return s, nil
}

// The joins of results x and partners p loadRows reads from: byRun for a
// whole run (results first), byName for some partners of a run (their
// partner rows first, then their results by results_by_partner; the cond
// joins them).
const (
	byRun  = `results x JOIN partners p ON p.id = x.partner_id`
	byName = `partners p CROSS JOIN results x`
)

// loadRows reads the results of run id (started at started) that cond
// selects from from (byRun or byName) as change detection sees them.
func loadRows(ctx context.Context, q queryer, id int64, started time.Time, from, cond string, args []any, withTargets bool) (*snapshot, error) {
	targets := map[int][]state{}
	if withTargets {
		var err error
		if targets, err = loadTargetStates(ctx, q, id, from, cond, args); err != nil {
			return nil, err
		}
	}
	var b snapshotBuilder
	rows, err := q.QueryContext(ctx, `SELECT x.seq, p.name, p.doc, x.verdict, x.root_source,
			c.sha256, c.subject, c.issuer, c.key_sha256, c.not_after
		FROM `+from+` LEFT JOIN certs c ON c.id = x.leaf_id
		WHERE `+cond+` ORDER BY x.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("history: reading run %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var st state
		var seq int
		var pdoc []byte
		var lc leafColumns
		if err := rows.Scan(&seq, &st.Partner, &pdoc, &st.Verdict, &st.RootStore, &lc.sha, &lc.subject, &lc.issuer, &lc.key, &lc.notAfter); err != nil {
			return nil, fmt.Errorf("history: reading run %d: %w", id, err)
		}
		var ref partnerRef
		if err := json.Unmarshal(pdoc, &ref); err != nil {
			return nil, fmt.Errorf("history: run %d partner %q: %w", id, st.Partner, err)
		}
		switch ts := targets[seq]; {
		case len(ts) > 0:
			for i := range ts {
				ts[i].Partner = st.Partner
			}
			b.add(st.Partner, ref.Domain, st.Verdict, ts...)
		case ref.Host != "": // a row recorded before targets: its host is its one target
			st.MX, st.Address, st.Port, st.Target = ref.Host, ref.Address, ref.Port, stateKey(ref.Host, ref.Port, ref.Address)
			st.Leaf = lc.leaf()
			b.add(st.Partner, ref.Domain, st.Verdict, st)
		default:
			b.add(st.Partner, ref.Domain, st.Verdict)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: reading run %d: %w", id, err)
	}
	return b.snapshot(id, started), nil
}

// leafColumns are the certs columns of a leaf, NULL without one.
type leafColumns struct {
	sha, subject, issuer, key sql.NullString
	notAfter                  sql.NullInt64
}

func (l leafColumns) leaf() *leafInfo {
	if !l.sha.Valid {
		return nil
	}
	return &leafInfo{SHA256: l.sha.String, Subject: l.subject.String, Issuer: l.issuer.String, KeySHA: l.key.String,
		NotAfter: time.Unix(l.notAfter.Int64, 0).UTC()}
}

// loadTargetStates reads the targets of the results of run id that cond
// selects (see loadRows), by the seq of their partner's result.
func loadTargetStates(ctx context.Context, q queryer, id int64, from, cond string, args []any) (map[int][]state, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.seq, t.target, t.mx, t.address, t.port, t.verdict, t.root_source,
			c.sha256, c.subject, c.issuer, c.key_sha256, c.not_after
		FROM `+from+` CROSS JOIN targets t LEFT JOIN certs c ON c.id = t.leaf_id
		WHERE t.run_id = x.run_id AND t.seq = x.seq AND `+cond+` ORDER BY t.seq, t.tseq`, args...)
	if err != nil {
		return nil, fmt.Errorf("history: reading the targets of run %d: %w", id, err)
	}
	defer rows.Close()
	out := map[int][]state{}
	for rows.Next() {
		var st state
		var seq int
		var lc leafColumns
		if err := rows.Scan(&seq, &st.Target, &st.MX, &st.Address, &st.Port, &st.Verdict, &st.RootStore, &lc.sha, &lc.subject, &lc.issuer, &lc.key, &lc.notAfter); err != nil {
			return nil, fmt.Errorf("history: reading the targets of run %d: %w", id, err)
		}
		st.Leaf = lc.leaf()
		out[seq] = append(out[seq], st)
	}
	return out, rows.Err()
}

// restoreChain gives the certificates of a stored chain their DER back, and
// rebuilds those at the compact indexes from it; expanded caches rebuilt certificates.
func restoreChain(chain []audit.Cert, compact []int, der func(string) ([]byte, error), expanded map[string]audit.Cert) error {
	for j := range chain {
		var err error
		if chain[j].DER, err = der(chain[j].SHA256); err != nil {
			return err
		}
	}
	for _, j := range compact {
		if j < 0 || j >= len(chain) {
			return fmt.Errorf("compact chain index %d out of range", j)
		}
		sum := chain[j].SHA256
		c, ok := expanded[sum]
		if !ok {
			var err error
			if c, err = expandCert(chain[j].DER); err != nil {
				return fmt.Errorf("certificate %s: %w", sum, err)
			}
			expanded[sum] = c
		}
		chain[j] = c
	}
	return nil
}

// Changes returns the changes recorded with run id.
func (db *DB) Changes(id int64) (_ []audit.Change, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	target := "target"
	if db.schema < 3 { // read-only, not migrated
		target = "''"
	}
	rows, err := db.c().QueryContext(context.Background(),
		`SELECT partner, `+target+`, kind, before, after, since_run FROM changes WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("history: changes of run %d: %w", id, err)
	}
	defer rows.Close()
	var out []audit.Change
	for rows.Next() {
		var c audit.Change
		if err := rows.Scan(&c.Partner, &c.Target, &c.Kind, &c.Before, &c.After, &c.SinceRun); err != nil {
			return nil, fmt.Errorf("history: changes of run %d: %w", id, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func unmarshalDeflated(b []byte, v any) error {
	j, err := inflate(b)
	if err != nil {
		return err
	}
	return json.Unmarshal(j, v)
}
