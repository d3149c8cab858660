package history

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
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
	_, err = db.sql.Exec(`UPDATE runs SET status = ? WHERE id = ? AND status = ?`, StatusInterrupted, id, StatusRunning)
	if err != nil {
		return fmt.Errorf("history: abandoning run %d: %w", id, err)
	}
	return nil
}

// recordHook, when set by a test, is called inside Record's transaction
// after every result is written and before the commit.
var recordHook func()

// Begin inserts a run of the inventory at inventory (an absolute path) as
// running and returns its id. Runs still marked running are marked
// interrupted first: the caller holds the lock, so their processes are gone.
func (db *DB) Begin(inventory string, started time.Time) (_ int64, err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	ctx := context.Background()
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("history: beginning run: %w", err)
	}
	defer tx.Rollback()
	id, err := beginTx(ctx, tx, inventory, started)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("history: beginning run: %w", err)
	}
	return id, nil
}

func beginTx(ctx context.Context, tx *sql.Tx, inventory string, started time.Time) (int64, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ? WHERE status = ?`, StatusInterrupted, StatusRunning); err != nil {
		return 0, fmt.Errorf("history: marking interrupted runs: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (inventory, started, status) VALUES (?, ?, ?)`,
		inventory, started.UnixNano(), StatusRunning)
	if err != nil {
		return 0, fmt.Errorf("history: beginning run: %w", err)
	}
	return res.LastInsertId()
}

// Record stores res as run runID in one transaction, after computing the
// changes since the baseline run of the same inventory into res.Changes.
// The inventory is the one given to Begin; with runID 0, Record begins a
// run itself with res.Inventory (which should then be absolute).
func (db *DB) Record(runID int64, res *audit.Results) (err error) {
	defer func() { err = db.wrap(OpRecord, err) }()
	ctx := context.Background()
	cur, err := snapshotOf(res)
	if err != nil {
		return err
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history: recording run: %w", err)
	}
	defer tx.Rollback()
	inventory := res.Inventory
	if runID == 0 {
		if runID, err = beginTx(ctx, tx, inventory, res.Started); err != nil {
			return err
		}
	} else {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status, inventory FROM runs WHERE id = ?`, runID).Scan(&status, &inventory); err != nil {
			return fmt.Errorf("history: run %d: %w", runID, err)
		}
		if status == StatusComplete {
			return fmt.Errorf("history: run %d is already recorded", runID)
		}
	}
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
		if res.Changes, err = changesOf(ctx, tx, inventory, cur); err != nil {
			return err
		}
	}

	w := newWriter(ctx, tx)
	defer w.close()
	failing := 0
	for i := range res.Partners {
		r := &res.Partners[i]
		if r.VerdictSeverity(r.Verdict).Level() >= audit.Error.Level() {
			failing++
		}
		if err := w.result(runID, i, r); err != nil {
			return fmt.Errorf("history: recording partner %q: %w", r.Name, err)
		}
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
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history: committing run %d: %w", runID, err)
	}
	return nil
}

// changesOf computes the changes of run cur of inventory: nothing when the
// inventory has no baseline yet (the latest earlier complete, uninterrupted
// run that audited at least one partner: a night whose every row was
// rejected, or that was interrupted, is never one); otherwise each partner
// of cur against the last earlier run that audited it, and each of its
// targets against the last earlier run that audited that target
// (interrupted runs included), added partners since the baseline, and the
// baseline's partners cur no longer has.
func changesOf(ctx context.Context, tx *sql.Tx, inventory string, cur *snapshot) ([]audit.Change, error) {
	var baseID int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE inventory = ? AND status = ? AND incomplete = 0 AND audited > 0 AND id < ? ORDER BY id DESC LIMIT 1`,
		inventory, StatusComplete, cur.RunID).Scan(&baseID)
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
	later, err := runIDs(ctx, tx, `SELECT id FROM runs WHERE inventory = ? AND status = ? AND id > ? AND id < ? ORDER BY id DESC`,
		inventory, StatusComplete, baseID, cur.RunID)
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
	// rejected for a while): their last audit before it, if any. This scans
	// the inventory's whole history, so only nights with such partners pay for it.
	missing := 0
	for n := range want {
		if beforeP[n] == nil {
			missing++
		}
	}
	if missing > 0 {
		rows, err := tx.QueryContext(ctx, `SELECT p.name, max(r.run_id)
			FROM runs u JOIN results r ON r.run_id = u.id JOIN partners p ON p.id = r.partner_id
			WHERE u.inventory = ? AND u.status = ? AND u.id < ? AND r.verdict <> ?
			GROUP BY p.name`, inventory, StatusComplete, baseID, string(audit.NotProbed))
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
func runIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]int64, error) {
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
	return b.snapshot(0, res.Started), nil
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
			Verdict: r.Verdict, RootSource: r.Root.Source, Started: started}
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
			Verdict: t.Verdict, RootSource: t.Root.Source, Started: started}
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

// writer inserts the rows of one run, deduplicating certificates, partner
// rows and result bodies.
type writer struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	certs map[string]int64 // by SHA-256
	exact map[string]bool  // compactable, by SHA-256
	buf   bytes.Buffer
	fw    *flate.Writer
}

func newWriter(ctx context.Context, tx *sql.Tx) *writer {
	fw, _ := flate.NewWriterDict(io.Discard, flate.BestCompression, dictDeflate1) // error only for a bad level
	return &writer{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}, certs: map[string]int64{}, exact: map[string]bool{}, fw: fw}
}

func (w *writer) close() {
	for _, s := range w.stmts {
		s.Close()
	}
}

func (w *writer) prepare(q string) (*sql.Stmt, error) {
	if s, ok := w.stmts[q]; ok {
		return s, nil
	}
	s, err := w.tx.PrepareContext(w.ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = s
	return s, nil
}

func (w *writer) stmt(q string, args ...any) (sql.Result, error) {
	s, err := w.prepare(q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(w.ctx, args...)
}

// deflate compresses b into a new slice, prefixed by its codec.
func (w *writer) deflate(b []byte) []byte {
	w.buf.Reset()
	w.buf.WriteByte(codecDeflateDict1)
	w.fw.Reset(&w.buf)
	w.fw.Write(b) // writes to a bytes.Buffer do not fail
	w.fw.Close()
	return bytes.Clone(w.buf.Bytes())
}

// inflate reverses deflate.
func inflate(b []byte) ([]byte, error) {
	if len(b) == 0 || b[0] != codecDeflateDict1 {
		return nil, fmt.Errorf("stored document: unknown codec")
	}
	r := flate.NewReaderDict(bytes.NewReader(b[1:]), dictDeflate1)
	defer r.Close()
	return io.ReadAll(r)
}

// intern returns the id of the row of table with the given sha256, inserting it when missing.
func (w *writer) intern(table string, sum []byte, insert string, args ...any) (int64, error) {
	s, err := w.prepare(`SELECT id FROM ` + table + ` WHERE sha256 = ?`)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.QueryRowContext(w.ctx, sum).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	res, err := w.stmt(insert, append([]any{sum}, args...)...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// cert stores c once and returns its id, or 0 when c has neither DER nor hash.
func (w *writer) cert(c *audit.Cert) (int64, error) {
	sum := certSHA(c)
	if sum == "" {
		return 0, nil
	}
	if id, ok := w.certs[sum]; ok {
		return id, nil
	}
	s, err := w.prepare(`SELECT id FROM certs WHERE sha256 = ?`)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.QueryRowContext(w.ctx, sum).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		info, perr := leafOf(c)
		if perr != nil {
			return 0, perr
		}
		var res sql.Result
		res, err = w.stmt(`INSERT INTO certs (sha256, subject, issuer, not_after, key_sha256, der) VALUES (?, ?, ?, ?, ?, ?)`,
			sum, c.Subject, c.Issuer, c.NotAfter.Unix(), info.KeySHA, c.DER)
		if err == nil {
			id, err = res.LastInsertId()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("certificate %s: %w", sum, err)
	}
	w.certs[sum] = id
	return id, nil
}

// compactable caches compactable by SHA-256; a certificate with DER has one description.
func (w *writer) compactable(sum string, c *audit.Cert) bool {
	ok, seen := w.exact[sum]
	if !seen {
		ok = compactable(c)
		w.exact[sum] = ok
	}
	return ok
}

// result writes one partner result.
func (w *writer) result(runID int64, seq int, r *audit.Result) error {
	pdoc, err := json.Marshal(r.Partner)
	if err != nil {
		return err
	}
	psum := sha256.Sum256(pdoc)
	partnerID, err := w.intern("partners", psum[:], `INSERT INTO partners (sha256, name, enforced, doc, target) VALUES (?, ?, ?, ?, ?)`,
		r.Name, r.Enforced, pdoc, targetOf(r.Partner))
	if err != nil {
		return err
	}

	body := storedBody{Result: *r}
	body.Partner = audit.Partner{}
	body.DurationMS = 0
	body.SMTP.TimingsMS = nil
	var leafID int64
	if body.Chain, body.CompactChain, leafID, err = w.chain(r.Chain); err != nil {
		return err
	}
	if len(r.Targets) > 0 {
		body.Targets = make([]audit.TargetResult, len(r.Targets))
		body.CompactTargets = make([][]int, len(r.Targets))
	}
	targetLeaves := make([]int64, len(r.Targets))
	for k := range r.Targets {
		t := r.Targets[k]
		if t.Chain, body.CompactTargets[k], targetLeaves[k], err = w.chain(t.Chain); err != nil {
			return err
		}
		t.DurationMS, t.SMTP.TimingsMS = 0, nil
		body.Targets[k] = t
	}
	bdoc, err := json.Marshal(&body)
	if err != nil {
		return err
	}
	bsum := sha256.Sum256(bdoc)
	bodyID, err := w.intern("bodies", bsum[:], `INSERT INTO bodies (sha256, doc) VALUES (?, ?)`, w.deflate(bdoc))
	if err != nil {
		return err
	}
	timings, err := encodeTimings(r.SMTP.TimingsMS)
	if err != nil {
		return err
	}
	_, err = w.stmt(`INSERT INTO results (run_id, seq, partner_id, verdict, root_source, leaf_id, body_id, duration_ms, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		runID, seq, partnerID, string(r.Verdict), r.Root.Source, nullID(leafID), bodyID, r.DurationMS, timings)
	if err != nil {
		return err
	}
	for k := range r.Targets {
		t := &r.Targets[k]
		timings, err := encodeTimings(t.SMTP.TimingsMS)
		if err != nil {
			return err
		}
		if _, err := w.stmt(`INSERT INTO targets (run_id, seq, tseq, target, mx, address, port, verdict, root_source, leaf_id, duration_ms, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			runID, seq, k, stateKey(t.MX, t.Port, t.Address), t.MX, t.Address, t.Port, string(t.Verdict), t.Root.Source,
			nullID(targetLeaves[k]), t.DurationMS, timings); err != nil {
			return fmt.Errorf("target %s: %w", t.Key(), err)
		}
	}
	return nil
}

// chain stores the certificates of a chain once and returns it as a body
// keeps it: certificates audit.NewCert rebuilds from their DER reduced to
// their SHA-256 (their indexes in compact), the others without DER; and
// the id of the leaf (0 without one).
func (w *writer) chain(in []audit.Cert) (out []audit.Cert, compact []int, leaf int64, err error) {
	if in != nil {
		out = make([]audit.Cert, len(in))
	}
	for i := range in {
		c := &in[i]
		id, err := w.cert(c)
		if err != nil {
			return nil, nil, 0, err
		}
		if i == 0 {
			leaf = id
		}
		sum := certSHA(c)
		if w.compactable(sum, c) {
			out[i] = audit.Cert{SHA256: sum}
			compact = append(compact, i)
			continue
		}
		out[i] = *c
		out[i].DER = nil
		out[i].SHA256 = sum
	}
	return out, compact, leaf, nil
}

// nullID is id as a nullable column: NULL for 0.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// runDoc returns the deflated JSON of res without partners and changes,
// private roots' DER stored as certificates.
func (w *writer) runDoc(res *audit.Results) ([]byte, error) {
	doc := *res
	doc.Partners = nil
	doc.Changes = nil
	if res.PrivateRoots != nil {
		doc.PrivateRoots = make([]audit.PrivateRoot, len(res.PrivateRoots))
	}
	for i, pr := range res.PrivateRoots {
		if len(pr.DER) > 0 {
			c := audit.Cert{Subject: pr.Subject, Issuer: pr.Subject, NotAfter: pr.NotAfter, DER: pr.DER}
			if _, err := w.cert(&c); err != nil {
				return nil, fmt.Errorf("private root %s: %w", pr.File, err)
			}
			pr.SHA256 = certSHA(&c)
			pr.DER = nil
		}
		doc.PrivateRoots[i] = pr
	}
	b, err := json.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	return w.deflate(b), nil
}
