package history

import (
	"bytes"
	"cmp"
	"compress/flate"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mxaudit/mxaudit/audit"
)

// writeBatch is how many results the writer prepares and interns at a time.
const writeBatch = 500

// writer inserts the rows of one run, deduplicating certificates, partner
// rows and result bodies (stored once by hash, "interned").
//
// On PostgreSQL, where several scanners record at once, the interned rows
// of each batch are written in short transactions of their own, each
// table in a fixed order and its rows sorted by hash: two scanners
// inserting the same certificates then wait for each other at most
// briefly and never deadlock, and the run's own transaction only inserts
// rows no other scanner writes. A row interned by a run that then fails is
// harmless (it is content, not a result). On SQLite, which has one writer,
// everything goes into the run's transaction.
type writer struct {
	ctx      context.Context
	db       *DB
	tx       conn
	stmts    map[string]*sql.Stmt
	certs    map[string]int64   // by SHA-256
	partners map[[32]byte]int64 // by SHA-256 of the document
	bodies   map[[32]byte]int64
	exact    map[string]bool // compactable, by SHA-256
	buf      bytes.Buffer
	fw       *flate.Writer
}

func (db *DB) newWriter(ctx context.Context, tx conn) *writer {
	fw, _ := flate.NewWriterDict(io.Discard, flate.BestCompression, dictDeflate1) // error only for a bad level
	return &writer{ctx: ctx, db: db, tx: tx, stmts: map[string]*sql.Stmt{}, certs: map[string]int64{},
		partners: map[[32]byte]int64{}, bodies: map[[32]byte]int64{}, exact: map[string]bool{}, fw: fw}
}

func (w *writer) close() {
	closeStmts(w.stmts)
}

func closeStmts(m map[string]*sql.Stmt) {
	for _, s := range m {
		s.Close()
	}
}

func prepare(ctx context.Context, c conn, cache map[string]*sql.Stmt, q string) (*sql.Stmt, error) {
	if s, ok := cache[q]; ok {
		return s, nil
	}
	s, err := c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	cache[q] = s
	return s, nil
}

func (w *writer) stmt(q string, args ...any) (sql.Result, error) {
	s, err := prepare(w.ctx, w.tx, w.stmts, q)
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

// pending is one result prepared for writing.
type pending struct {
	seq     int
	r       *audit.Result
	pdoc    []byte
	psum    [32]byte
	bdoc    []byte // deflated
	bsum    [32]byte
	chain   []*audit.Cert // every certificate to intern: the result's chain and its targets'
	timings string
	targets []string // each target's timings
	failing []int64  // each target's failing_since
}

// prepare computes the documents of result r at position seq.
func (w *writer) prepare(seq int, r *audit.Result) (*pending, error) {
	p := &pending{seq: seq, r: r}
	var err error
	if p.pdoc, err = json.Marshal(r.Partner); err != nil {
		return nil, err
	}
	p.psum = sha256.Sum256(p.pdoc)
	body := storedBody{Result: *r}
	body.Partner = audit.Partner{}
	body.DurationMS = 0
	body.SMTP.TimingsMS = nil
	body.Chain, body.CompactChain = w.chain(p, r.Chain)
	if len(r.Targets) > 0 {
		body.Targets = make([]audit.TargetResult, len(r.Targets))
		body.CompactTargets = make([][]int, len(r.Targets))
		p.targets = make([]string, len(r.Targets))
	}
	for k := range r.Targets {
		t := r.Targets[k]
		t.Chain, body.CompactTargets[k] = w.chain(p, t.Chain)
		if p.targets[k], err = encodeTimings(t.SMTP.TimingsMS); err != nil {
			return nil, err
		}
		t.DurationMS, t.SMTP.TimingsMS = 0, nil
		body.Targets[k] = t
	}
	bdoc, err := json.Marshal(&body)
	if err != nil {
		return nil, err
	}
	p.bsum = sha256.Sum256(bdoc)
	p.bdoc = w.deflate(bdoc)
	p.timings, err = encodeTimings(r.SMTP.TimingsMS)
	return p, err
}

// chain returns a chain as a body keeps it: certificates audit.NewCert
// rebuilds from their DER reduced to their SHA-256 (their indexes in
// compact), the others without DER; its certificates are added to p's to intern.
func (w *writer) chain(p *pending, in []audit.Cert) (out []audit.Cert, compact []int) {
	if in != nil {
		out = make([]audit.Cert, len(in))
	}
	for i := range in {
		c := &in[i]
		sum := certSHA(c)
		if sum != "" {
			p.chain = append(p.chain, c)
		}
		if w.compactable(sum, c) {
			out[i] = audit.Cert{SHA256: sum}
			compact = append(compact, i)
			continue
		}
		out[i] = *c
		out[i].DER = nil
		out[i].SHA256 = sum
	}
	return out, compact
}

// leafID is the id of the interned leaf of chain, NULL without one.
func (w *writer) leafID(chain []audit.Cert) sql.NullInt64 {
	if len(chain) > 0 {
		if id, ok := w.certs[certSHA(&chain[0])]; ok {
			return sql.NullInt64{Int64: id, Valid: true}
		}
	}
	return sql.NullInt64{}
}

// writerCache bounds how many ids of interned rows a writer remembers:
// beyond, it forgets them all (they are looked up again when needed).
const writerCache = 20000

// trim forgets the interned ids once there are more than writerCache.
func (w *writer) trim() {
	if len(w.certs)+len(w.partners)+len(w.bodies)+len(w.exact) > writerCache {
		clear(w.certs)
		clear(w.partners)
		clear(w.bodies)
		clear(w.exact)
	}
}

// results writes every result of rs, the first at position seq0, batch by
// batch; since gives each target's failing_since.
func (w *writer) results(runID int64, seq0 int, rs []audit.Result, since func(string, *audit.TargetResult) int64) error {
	for start := 0; start < len(rs); start += writeBatch {
		w.trim()
		batch := make([]*pending, 0, min(writeBatch, len(rs)-start))
		for i := start; i < min(start+writeBatch, len(rs)); i++ {
			p, err := w.prepare(seq0+i, &rs[i])
			if err != nil {
				return fmt.Errorf("history: recording partner %q: %w", rs[i].Name, err)
			}
			p.failing = make([]int64, len(rs[i].Targets))
			for k := range rs[i].Targets {
				p.failing[k] = since(rs[i].Name, &rs[i].Targets[k])
			}
			batch = append(batch, p)
		}
		if err := w.internBatch(batch); err != nil {
			return fmt.Errorf("history: recording run: %w", err)
		}
		for _, p := range batch {
			if _, err := w.stmt(`INSERT INTO results (run_id, seq, partner_id, verdict, root_source, leaf_id, body_id, duration_ms, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				runID, p.seq, w.partners[p.psum], string(p.r.Verdict), p.r.Root.Store, w.leafID(p.r.Chain), w.bodies[p.bsum], p.r.DurationMS, p.timings); err != nil {
				return fmt.Errorf("history: recording partner %q: %w", p.r.Name, err)
			}
			if err := w.targets(runID, p); err != nil {
				return fmt.Errorf("history: recording partner %q: %w", p.r.Name, err)
			}
		}
	}
	return nil
}

// targets writes the targets of p's result, one row each.
func (w *writer) targets(runID int64, p *pending) error {
	for k := range p.r.Targets {
		t := &p.r.Targets[k]
		if _, err := w.stmt(`INSERT INTO targets (run_id, seq, tseq, target, mx, address, port, verdict, root_source, leaf_id, duration_ms, timings, failing_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			runID, p.seq, k, stateKey(t.MX, t.Port, t.Address), t.MX, t.Address, t.Port, string(t.Verdict), t.Root.Store,
			w.leafID(t.Chain), t.DurationMS, p.targets[k], p.failing[k]); err != nil {
			return fmt.Errorf("target %s: %w", t.Key(), err)
		}
	}
	return nil
}

// internBatch stores the certificates, partner rows and bodies of batch
// that w has no id for yet, and learns their ids.
func (w *writer) internBatch(batch []*pending) error {
	certs := map[string]*audit.Cert{}
	partners := map[[32]byte]*pending{}
	bodies := map[[32]byte]*pending{}
	for _, p := range batch {
		for _, c := range p.chain {
			if _, ok := w.certs[certSHA(c)]; !ok {
				certs[certSHA(c)] = c
			}
		}
		if _, ok := w.partners[p.psum]; !ok {
			partners[p.psum] = p
		}
		if _, ok := w.bodies[p.bsum]; !ok {
			bodies[p.bsum] = p
		}
	}
	return w.side(func(in *interner) error {
		for _, sum := range sortedKeys(certs, cmp.Compare) {
			if err := w.internCert(in, certs[sum]); err != nil {
				return err
			}
		}
		for _, sum := range sortedKeys(partners, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }) {
			p := partners[sum]
			id, err := in.intern("partners", sum[:], `INSERT INTO partners (sha256, name, enforced, doc, target) VALUES (?, ?, ?, ?, ?)`,
				p.r.Name, p.r.Enforced, p.pdoc, targetOf(p.r.Partner))
			if err != nil {
				return fmt.Errorf("partner %q: %w", p.r.Name, err)
			}
			w.partners[sum] = id
		}
		for _, sum := range sortedKeys(bodies, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) }) {
			id, err := in.intern("bodies", sum[:], `INSERT INTO bodies (sha256, doc) VALUES (?, ?)`, bodies[sum].bdoc)
			if err != nil {
				return fmt.Errorf("partner %q: %w", bodies[sum].r.Name, err)
			}
			w.bodies[sum] = id
		}
		return nil
	})
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

// interner finds or inserts content-addressed rows on one connection.
type interner struct {
	ctx   context.Context
	c     conn
	stmts map[string]*sql.Stmt
}

// side runs f with an interner: on PostgreSQL in a short transaction of
// its own, committed before the run's; on SQLite in the run's transaction.
func (w *writer) side(f func(*interner) error) error {
	if !w.db.pg {
		return f(&interner{ctx: w.ctx, c: w.tx, stmts: w.stmts})
	}
	tx, err := w.db.sql.BeginTx(w.ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	in := &interner{ctx: w.ctx, c: w.db.tx(tx), stmts: map[string]*sql.Stmt{}}
	defer closeStmts(in.stmts)
	if err := f(in); err != nil {
		return err
	}
	return tx.Commit()
}

// intern returns the id of the row of table with the given sha256,
// inserting it when missing. The insert does nothing when another scanner
// inserted the row meanwhile, and the row is read again.
func (in *interner) intern(table string, sum any, insert string, args ...any) (int64, error) {
	sel, err := prepare(in.ctx, in.c, in.stmts, `SELECT id FROM `+table+` WHERE sha256 = ?`)
	if err != nil {
		return 0, err
	}
	var id int64
	err = sel.QueryRowContext(in.ctx, sum).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	ins, err := prepare(in.ctx, in.c, in.stmts, insert+` ON CONFLICT (sha256) DO NOTHING RETURNING id`)
	if err != nil {
		return 0, err
	}
	err = ins.QueryRowContext(in.ctx, append([]any{sum}, args...)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = sel.QueryRowContext(in.ctx, sum).Scan(&id)
	}
	return id, err
}

// internCert stores c once and learns its id.
func (w *writer) internCert(in *interner, c *audit.Cert) error {
	sum := certSHA(c)
	info, err := leafOf(c)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", sum, err)
	}
	der := c.DER
	if der == nil {
		der = []byte{}
	}
	id, err := in.intern("certs", sum, `INSERT INTO certs (sha256, subject, issuer, not_after, key_sha256, der) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Subject, c.Issuer, c.NotAfter.Unix(), info.KeySHA, der)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", sum, err)
	}
	w.certs[sum] = id
	return nil
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

// runDoc returns the deflated JSON of res without partners and changes,
// private roots' DER stored as certificates.
func (w *writer) runDoc(res *audit.Results) ([]byte, error) {
	doc := *res
	doc.Partners = nil
	doc.Changes = nil
	if res.PrivateRoots != nil {
		doc.PrivateRoots = make([]audit.PrivateRoot, len(res.PrivateRoots))
	}
	certs := map[string]*audit.Cert{}
	for i, pr := range res.PrivateRoots {
		if len(pr.DER) > 0 {
			c := &audit.Cert{Subject: pr.Subject, Issuer: pr.Subject, NotAfter: pr.NotAfter, DER: pr.DER}
			if _, ok := w.certs[certSHA(c)]; !ok {
				certs[certSHA(c)] = c
			}
			pr.SHA256 = certSHA(c)
			pr.DER = nil
		}
		doc.PrivateRoots[i] = pr
	}
	err := w.side(func(in *interner) error {
		for _, sum := range sortedKeys(certs, cmp.Compare) {
			if err := w.internCert(in, certs[sum]); err != nil {
				return fmt.Errorf("private root: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	return w.deflate(b), nil
}
