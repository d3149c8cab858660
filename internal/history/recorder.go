package history

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Recorder records one run as its results stream by, batch by batch, in
// one transaction: a process killed before Finish leaves no result of the
// run (the certificates, partner rows and bodies it interned may stay:
// they are content, not results). Its memory does not grow with the
// number of partners: each batch is looked up, compared and written on
// its own, with indexed queries.
//
// While a Recorder is open, its DB must not be used for anything else (an
// SQLite database has one connection, which the Recorder's transaction
// holds). A Recorder is for one goroutine.
type Recorder struct {
	db    *DB
	ctx   context.Context
	sqlTx *sql.Tx
	tx    conn
	w     *writer
	runID int64
	scope Scope
	head  *audit.Results
	at    time.Time // head.Started: the run's clock
	marks []int
	// base is the baseline run (0: none, so no changes); sameScope says
	// it is of this run's scope (else of another shard layout of the
	// inventory and vantage point: see baseline).
	base      int64
	sameScope bool
	window    []int64 // the complete runs of the inventory and vantage point since the baseline (any shard)
	prev      int64   // the previous complete run of the scope, whose failing_since is carried; 0 for none
	seq       int     // the next result's position
	nchanges  int
	partners  int
	failing   int
	audited   int
	hash      [4]uint64 // inventoryHash, accumulating
	held      []item    // the last partner of the previous batch: the next batch may continue it
	started   map[int64]time.Time
	done      bool
}

// item is one result reduced to what change detection compares.
type item struct {
	name, domain string
	verdict      audit.Verdict
	states       []state
}

// Recorder begins recording run runID (begun with BeginRun; 0 begins one
// with head's Inventory, Vantage, Shard and RunLabel) whose head is head
// (Partners nil: Started, Thresholds, ...). The caller then calls Add for
// every batch of results in inventory order, and Finish; or Close to give
// up (then Abandon the run).
func (db *DB) Recorder(runID int64, head *audit.Results) (_ *Recorder, err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	ctx := context.Background()
	if db.pg {
		db.analyzeIfStale(ctx)
	}
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("history: recording run: %w", err)
	}
	r := &Recorder{db: db, ctx: ctx, sqlTx: sqlTx, tx: db.tx(sqlTx), head: head, at: head.Started, marks: head.RunThresholds().ExpiryMarks(),
		started: map[int64]time.Time{}}
	if db.pg {
		if err := holdPruneLock(ctx, sqlTx); err != nil {
			sqlTx.Rollback()
			return nil, fmt.Errorf("history: recording run: waiting for a prune: %w", err)
		}
		// The per-batch lookups must walk from the batch's partner rows
		// through results_by_partner (nested loops over indexes), never
		// scan a whole run per batch: the run's own rows are never in the
		// statistics. For this transaction only.
		if _, err := sqlTx.ExecContext(ctx, `SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
			sqlTx.Rollback()
			return nil, fmt.Errorf("history: recording run: %w", err)
		}
	}
	if err := r.begin(runID); err != nil {
		sqlTx.Rollback()
		return nil, err
	}
	r.w = db.newWriter(ctx, r.tx)
	return r, nil
}

func (r *Recorder) begin(runID int64) error {
	ctx, tx := r.ctx, r.tx
	if runID == 0 {
		m, err := metaOf(r.head)
		if err != nil {
			return fmt.Errorf("history: recording run: %w", err)
		}
		if err := m.check(); err != nil {
			return err
		}
		if runID, err = r.db.beginTx(ctx, tx, m); err != nil {
			return err
		}
		r.scope = m.Scope
	} else {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status, inventory, vantage, shard, shards FROM runs WHERE id = ?`, runID).
			Scan(&status, &r.scope.Inventory, &r.scope.Vantage, &r.scope.Shard.K, &r.scope.Shard.N); err != nil {
			return fmt.Errorf("history: run %d: %w", runID, err)
		}
		if status == StatusComplete {
			return fmt.Errorf("history: run %d is already recorded", runID)
		}
	}
	r.runID = runID
	var err error
	if r.base, r.sameScope, err = r.baseline(); err != nil {
		return err
	}
	if r.base != 0 {
		if r.window, err = runIDs(ctx, tx, `SELECT id FROM runs WHERE inventory = ? AND vantage = ? AND status = ? AND id >= ? AND id < ?`,
			r.scope.Inventory, r.scope.Vantage, StatusComplete, r.base, runID); err != nil {
			return err
		}
	}
	s := r.scope
	err = tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE inventory = ? AND vantage = ? AND shards = ? AND shard = ? AND status = ? AND id < ? ORDER BY id DESC LIMIT 1`,
		s.Inventory, s.Vantage, s.Shard.N, s.Shard.K, StatusComplete, runID).Scan(&r.prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("history: finding the previous run: %w", err)
	}
	return nil
}

// baseline returns the baseline of the run: the latest earlier complete,
// uninterrupted run of its scope that audited a partner; without one,
// the latest such run of its inventory and vantage point in another shard
// layout (--shard N changed: its partners are compared with their last
// audit all the same); 0 when neither exists (no changes).
func (r *Recorder) baseline() (int64, bool, error) {
	s := r.scope
	var id int64
	err := r.tx.QueryRowContext(r.ctx, `SELECT id FROM runs WHERE inventory = ? AND vantage = ? AND shards = ? AND shard = ? AND status = ? AND NOT incomplete AND audited > 0 AND id < ? ORDER BY id DESC LIMIT 1`,
		s.Inventory, s.Vantage, s.Shard.N, s.Shard.K, StatusComplete, r.runID).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("history: finding the previous run: %w", err)
	}
	err = r.tx.QueryRowContext(r.ctx, `SELECT id FROM runs WHERE inventory = ? AND vantage = ? AND shards <> ? AND status = ? AND NOT incomplete AND audited > 0 AND id < ? ORDER BY id DESC LIMIT 1`,
		s.Inventory, s.Vantage, s.Shard.N, StatusComplete, r.runID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("history: finding the previous run: %w", err)
	}
	return id, false, nil
}

// RunID returns the id of the run being recorded.
func (r *Recorder) RunID() int64 { return r.runID }

// Prior is what the history knew, before this run, of the partners of one batch.
type Prior struct {
	failing map[string]time.Time // by streakKey
}

// FailingSince returns the start of the unbroken streak of earlier runs of
// this scope in which our MTA's delivery to target t of partner did not
// flow (it ends at the previous run), and whether there is one: a target
// that flowed, was undetermined or was not audited in the previous run has none.
func (p Prior) FailingSince(partner string, t *audit.TargetResult) (time.Time, bool) {
	s, ok := p.failing[streakKey(partner, stateKey(t.MX, t.Port, t.Address))]
	return s, ok
}

func streakKey(partner, target string) string { return partner + "\x00" + target }

// Prior looks up what the history knew of the partners of batch before
// this run (the streaks of deferred delivery of their targets), with one
// indexed query per 500 partners.
func (r *Recorder) Prior(batch []audit.Result) (_ Prior, err error) {
	defer func() { err = r.db.wrap(OpRecord, err) }()
	out := Prior{failing: map[string]time.Time{}}
	for start := 0; start < len(batch); start += writeBatch {
		if err := r.failingSince(batch[start:min(start+writeBatch, len(batch))], out.failing); err != nil {
			return Prior{}, err
		}
	}
	return out, nil
}

// failingSince adds the streaks of the targets of batch's partners in the
// previous run of the scope to out.
func (r *Recorder) failingSince(batch []audit.Result, out map[string]time.Time) error {
	if r.prev == 0 || len(batch) == 0 {
		return nil
	}
	names := namesOf(batch)
	rows, err := r.tx.QueryContext(r.ctx, `SELECT p.name, t.target, t.failing_since
		FROM partners p CROSS JOIN results x CROSS JOIN targets t
		WHERE x.partner_id = p.id AND t.run_id = x.run_id AND t.seq = x.seq AND x.run_id = ? AND p.name IN (`+marks(len(names))+`) AND t.failing_since <> 0`, append([]any{r.prev}, names...)...)
	if err != nil {
		return fmt.Errorf("history: reading delivery streaks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, target string
		var since int64
		if err := rows.Scan(&name, &target, &since); err != nil {
			return fmt.Errorf("history: reading delivery streaks: %w", err)
		}
		out[streakKey(name, target)] = fromNanos(since)
	}
	return rows.Err()
}

// namesOf returns the distinct partner names of batch, as query arguments.
func namesOf(batch []audit.Result) []any {
	seen := map[string]bool{}
	var out []any
	for i := range batch {
		if n := batch[i].Name; !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// marks returns n comma-separated placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Add writes the results of batch (the next ones in inventory order) and
// returns their changes since the last audit of each partner and target
// (see the package documentation). The changes of the batch's last
// partner come with the next batch's, or Finish's: its results may go on
// in the next batch (results of one name make one partner).
func (r *Recorder) Add(batch []audit.Result) (_ []audit.Change, err error) {
	defer func() { err = r.db.wrap(OpRecord, err) }()
	if r.done {
		return nil, fmt.Errorf("history: run %d: Add after Finish", r.runID)
	}
	var out []audit.Change
	for start := 0; start < len(batch); start += writeBatch {
		cs, err := r.add(batch[start:min(start+writeBatch, len(batch))])
		if err != nil {
			return out, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func (r *Recorder) add(batch []audit.Result) ([]audit.Change, error) {
	streaks := map[string]time.Time{}
	if err := r.failingSince(batch, streaks); err != nil {
		return nil, err
	}
	started := r.at
	since := func(partner string, t *audit.TargetResult) int64 {
		d := t.Delivery
		if d == nil || audit.Flows(d.Outcome) || d.Outcome == audit.Undetermined {
			return 0
		}
		if s, ok := streaks[streakKey(partner, stateKey(t.MX, t.Port, t.Address))]; ok {
			return s.UnixNano()
		}
		return started.UnixNano()
	}
	if err := r.w.results(r.runID, r.seq, batch, since); err != nil {
		return nil, err
	}
	r.seq += len(batch)
	items := append([]item(nil), r.held...)
	for i := range batch {
		res := &batch[i]
		r.partners++
		if res.VerdictSeverity(res.Verdict).Level() >= audit.Error.Level() {
			r.failing++
		}
		r.addName(res.Name)
		sts, err := statesOf(res, started)
		if err != nil {
			return nil, err
		}
		items = append(items, item{name: res.Name, domain: res.Domain, verdict: res.Verdict, states: sts})
	}
	last := items[len(items)-1].name
	r.held = r.held[:0]
	var ready []item
	for _, it := range items {
		if it.name == last {
			r.held = append(r.held, it)
		} else {
			ready = append(ready, it)
		}
	}
	return r.compare(ready)
}

// addName adds name to the inventory hash.
func (r *Recorder) addName(name string) {
	h := sha256.Sum256([]byte(name))
	var c uint64
	for i := 3; i >= 0; i-- {
		v := uint64(h[i*8])<<56 | uint64(h[i*8+1])<<48 | uint64(h[i*8+2])<<40 | uint64(h[i*8+3])<<32 |
			uint64(h[i*8+4])<<24 | uint64(h[i*8+5])<<16 | uint64(h[i*8+6])<<8 | uint64(h[i*8+7])
		r.hash[i], c = bits.Add64(r.hash[i], v, c)
	}
}

// inventoryHash is "sum:" and the hex of the sum modulo 2^256 of the
// SHA-256 of every partner name of the run (one per result): the same
// multiset of names gives the same hash in any order, so it is computed
// as results stream by. Runs recorded before schema 6 hold the SHA-256 of
// the sorted names instead; nothing compares the two.
func (r *Recorder) inventoryHash() string {
	var b [32]byte
	for i, v := range r.hash {
		for j := range 8 {
			b[i*8+j] = byte(v >> (56 - 8*j))
		}
	}
	return "sum:" + hex.EncodeToString(b[:])
}

// compare returns the changes of the partners of items (whole: every
// result of each name), and writes them.
func (r *Recorder) compare(items []item) ([]audit.Change, error) {
	if len(items) == 0 {
		return nil, nil
	}
	var b snapshotBuilder
	for _, it := range items {
		b.add(it.name, it.domain, it.verdict, it.states...)
	}
	cur := b.snapshot(r.runID, r.at)
	cur.Marks = r.marks
	r.audited += cur.audited()
	if r.base == 0 {
		return nil, nil
	}
	beforeP, beforeT, err := r.priors(cur)
	if err != nil {
		return nil, err
	}
	changes := diff(cur, beforeP, beforeT, &snapshot{RunID: r.base})
	return changes, r.writeChanges(changes)
}

func (r *Recorder) writeChanges(changes []audit.Change) error {
	for _, c := range changes {
		if _, err := r.w.stmt(`INSERT INTO changes (run_id, seq, partner, target, kind, before, after, since_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.runID, r.nchanges, c.Partner, c.Target, c.Kind, c.Before, c.After, c.SinceRun); err != nil {
			return fmt.Errorf("history: recording changes: %w", err)
		}
		r.nchanges++
	}
	return nil
}

// priors returns, for the partners of cur, their state in the last
// earlier run from this vantage point (any shard) that audited each, and
// the state of each of their targets in the last such run that audited
// the target: first among the runs since the baseline, then, for the
// partners none of those audited, in the last run before that audited
// them. Each lookup is an indexed query for the whole batch.
func (r *Recorder) priors(cur *snapshot) (map[string]*partnerState, map[string]*state, error) {
	names := make([]any, 0, len(cur.Partners))
	for i := range cur.Partners {
		names = append(names, cur.Partners[i].Name)
	}
	// The runs since the baseline that audited each partner, run by run
	// (an equality on the run keeps PostgreSQL on results_by_partner).
	byRun := map[int64][]any{}
	found := map[string]bool{}
	// SQLite takes an equality on the run to its primary key and walks
	// the whole run: a range of one run keeps it on results_by_partner.
	onRun := `x.run_id = ? AND ? = 0`
	if !r.db.pg {
		onRun = `x.run_id >= ? AND x.run_id <= ? + 0`
	}
	for _, run := range r.window {
		arg2 := any(0)
		if !r.db.pg {
			arg2 = run
		}
		rows, err := r.tx.QueryContext(r.ctx, `SELECT DISTINCT p.name
			FROM partners p CROSS JOIN results x
			WHERE x.partner_id = p.id AND p.name IN (`+marks(len(names))+`) AND `+onRun+` AND x.verdict <> ?`,
			append(names, run, arg2, string(audit.NotProbed))...)
		if err != nil {
			return nil, nil, fmt.Errorf("history: finding the last audit of each partner: %w", err)
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("history: finding the last audit of each partner: %w", err)
			}
			found[name] = true
			byRun[run] = append(byRun[run], name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("history: finding the last audit of each partner: %w", err)
		}
	}
	// The others: their last audit before, if any.
	for _, n := range names {
		if found[n.(string)] {
			continue
		}
		run, err := r.lastAudit(n.(string))
		if err != nil {
			return nil, nil, err
		}
		if run != 0 {
			byRun[run] = append(byRun[run], n)
		}
	}
	runs := sortedKeys(byRun, func(a, b int64) int { return int(b - a) }) // newest first
	beforeP := make(map[string]*partnerState, len(cur.Partners))
	beforeT := make(map[string]*state, len(cur.States))
	for _, run := range runs {
		snap, err := r.load(run, byRun[run])
		if err != nil {
			return nil, nil, err
		}
		for i := range snap.Partners {
			if p := &snap.Partners[i]; beforeP[p.Name] == nil && p.Verdict != audit.NotProbed {
				beforeP[p.Name] = p
			}
		}
		for i := range snap.States {
			if st := &snap.States[i]; beforeT[st.key()] == nil && st.Verdict != audit.NotProbed {
				beforeT[st.key()] = st
			}
		}
	}
	return beforeP, beforeT, nil
}

// lastAudit returns the last earlier run from this vantage point (any
// shard) that audited partner name, 0 for none: an indexed walk back
// through the results of each stored row of that name.
func (r *Recorder) lastAudit(name string) (int64, error) {
	rows, err := r.tx.QueryContext(r.ctx, `SELECT id FROM partners WHERE name = ?`, name)
	if err != nil {
		return 0, fmt.Errorf("history: finding the last audit of %q: %w", name, err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("history: finding the last audit of %q: %w", name, err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("history: finding the last audit of %q: %w", name, err)
	}
	s := r.scope
	var last int64
	for _, id := range ids {
		var run int64
		err := r.tx.QueryRowContext(r.ctx, `SELECT x.run_id FROM results x JOIN runs u ON u.id = x.run_id
			WHERE x.partner_id = ? AND x.run_id < ? AND x.verdict <> ? AND u.inventory = ? AND u.vantage = ? AND u.status = ?
			ORDER BY x.run_id DESC LIMIT 1`, id, r.runID, string(audit.NotProbed), s.Inventory, s.Vantage, StatusComplete).Scan(&run)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("history: finding the last audit of %q: %w", name, err)
		}
		last = max(last, run)
	}
	return last, nil
}

// load reads the rows of the partners named names in run id as change
// detection sees them.
func (r *Recorder) load(id int64, names []any) (*snapshot, error) {
	started, ok := r.started[id]
	if !ok {
		var err error
		if started, err = runStarted(r.ctx, r.tx, id); err != nil {
			return nil, err
		}
		if len(r.started) > 1000 {
			clear(r.started)
		}
		r.started[id] = started
	}
	return loadRows(r.ctx, r.tx, id, started, byName, `x.partner_id = p.id AND x.run_id = ? AND p.name IN (`+marks(len(names))+`)`, append([]any{id}, names...), true)
}

// Finish computes the changes only the end of the run tells (the last
// partner's, and the partners of the baseline the run no longer has),
// writes the run's row (counts, head tail with Finished, Incomplete,
// notes, ...) and commits. A run that audited no partner has no changes
// but those Add returned before (partner_added of partners not probed is
// never reported: see diff).
func (r *Recorder) Finish(tail *audit.Results) (_ []audit.Change, err error) {
	defer func() { err = r.db.wrap(OpRecord, err) }()
	if r.done {
		return nil, fmt.Errorf("history: run %d: Finish twice", r.runID)
	}
	out, err := r.compare(r.held)
	if err != nil {
		return nil, err
	}
	r.held = nil
	if r.base != 0 && r.audited > 0 {
		if r.db.pg {
			r.analyzeRun()
		}
		gone, err := r.removed()
		if err != nil {
			return nil, err
		}
		out = append(out, gone...)
	}
	doc, err := r.w.runDoc(tail)
	if err != nil {
		return nil, fmt.Errorf("history: recording run: %w", err)
	}
	if _, err := r.tx.ExecContext(r.ctx, `UPDATE runs SET inventory = ?, inventory_hash = ?, started = ?, finished = ?, status = ?, incomplete = ?, partners = ?, failing = ?, audited = ?, doc = ? WHERE id = ?`,
		r.scope.Inventory, r.inventoryHash(), tail.Started.UnixNano(), tail.Finished.UnixNano(), StatusComplete,
		tail.Incomplete, r.partners, r.failing, r.audited, doc, r.runID); err != nil {
		return nil, fmt.Errorf("history: recording run: %w", err)
	}
	if recordHook != nil {
		recordHook()
	}
	r.w.close()
	r.done = true
	if err := r.sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("history: committing run %d: %w", r.runID, err)
	}
	if r.db.pg && r.seq >= analyzeAfter {
		// The next run's lookups need statistics that know this run (the
		// server's own counters reach autovacuum late).
		r.db.analyze(r.ctx, "partners", "results", "targets")
	}
	return out, nil
}

// analyzeAfter is the size of a run after which Finish has PostgreSQL
// analyze the tables at once.
const analyzeAfter = 1000

// analyzeRun has PostgreSQL analyze results and partners inside the run's
// transaction (which sees the run's own rows), so that finding the
// removed partners joins this run's rows by index rather than walking
// them for every row of the baseline. Best effort: waiting at most 2 s
// for the lock (autovacuum, another scanner), under a savepoint.
func (r *Recorder) analyzeRun() {
	if _, err := r.tx.ExecContext(r.ctx, `SAVEPOINT analyze_run`); err != nil {
		return
	}
	_, err := r.tx.ExecContext(r.ctx, `SET LOCAL lock_timeout = '2s'; ANALYZE results, partners; SET LOCAL lock_timeout = 0`)
	if err != nil {
		r.tx.ExecContext(r.ctx, `ROLLBACK TO SAVEPOINT analyze_run`)
		return
	}
	r.tx.ExecContext(r.ctx, `RELEASE SAVEPOINT analyze_run`)
}

// removedPage is how many rows of the baseline removed reads at a time.
const removedPage = 500

// removed returns partner_removed for each partner of the baseline this
// run does not hold, found by SQL after this run's rows are written, page
// by page in the baseline's order. A baseline of another shard layout
// only tells the removal of partners this run's shard holds (those of
// this shard it did not hold are not told for that one night).
func (r *Recorder) removed() ([]audit.Change, error) {
	var out []audit.Change
	told := map[string]bool{}
	for after := -1; ; {
		rows, err := r.tx.QueryContext(r.ctx, `SELECT b.seq, p.name, p.doc FROM results b JOIN partners p ON p.id = b.partner_id
			WHERE b.run_id = ? AND b.seq > ? AND NOT EXISTS
				(SELECT 1 FROM partners q CROSS JOIN results x WHERE x.partner_id = q.id AND x.run_id = ? AND q.name = p.name)
			ORDER BY b.seq LIMIT ?`, r.base, after, r.runID, removedPage)
		if err != nil {
			return nil, fmt.Errorf("history: finding removed partners: %w", err)
		}
		var names []any
		n := 0
		for rows.Next() {
			var name string
			var doc []byte
			if err := rows.Scan(&after, &name, &doc); err != nil {
				rows.Close()
				return nil, fmt.Errorf("history: finding removed partners: %w", err)
			}
			n++
			if told[name] {
				continue
			}
			if !r.sameScope {
				var p audit.Partner
				if err := json.Unmarshal(doc, &p); err != nil {
					rows.Close()
					return nil, fmt.Errorf("history: run %d partner %q: %w", r.base, name, err)
				}
				if !r.scope.Shard.Holds(p) {
					continue
				}
			}
			told[name] = true
			names = append(names, name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("history: finding removed partners: %w", err)
		}
		if len(names) > 0 {
			snap, err := r.load(r.base, names)
			if err != nil {
				return nil, err
			}
			cs := diff(&snapshot{}, nil, nil, snap)
			if err := r.writeChanges(cs); err != nil {
				return nil, err
			}
			out = append(out, cs...)
		}
		if n < removedPage {
			return out, nil
		}
	}
}

// Close gives up a run not finished: its transaction is rolled back (the
// caller then marks it interrupted with Abandon). After Finish it does nothing.
func (r *Recorder) Close() error {
	if r.done {
		return nil
	}
	r.done = true
	r.w.close()
	return r.sqlTx.Rollback()
}
