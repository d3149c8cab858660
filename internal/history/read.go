package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
)

// readPage is how many results EachResult reads from the database at a time.
const readPage = 256

// maxDERCache bounds the certificates a reader keeps decoded; beyond, it forgets them all.
const maxDERCache = 2000

// Results loads run id back as the audit.Results it was recorded from,
// with the changes computed when it was recorded: RunHead with every
// result of EachResult (for runs that fit in memory).
func (db *DB) Results(id int64) (*audit.Results, error) {
	res, err := db.RunHead(id)
	if err != nil {
		return nil, err
	}
	res.Partners = []audit.Result{}
	err = db.EachResult(id, func(r *audit.Result) error {
		res.Partners = append(res.Partners, *r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// RunHead loads the head of run id: its audit.Results without partners
// (Partners nil), with its private roots' DER and its changes.
func (db *DB) RunHead(id int64) (_ *audit.Results, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	ctx := context.Background()
	if _, err := runStarted(ctx, db.c(), id); err != nil {
		return nil, err
	}
	var doc []byte
	if err := db.c().QueryRowContext(ctx, `SELECT doc FROM runs WHERE id = ?`, id).Scan(&doc); err != nil {
		return nil, fmt.Errorf("history: run %d: %w", id, err)
	}
	var res audit.Results
	if err := unmarshalDeflated(doc, &res); err != nil {
		return nil, fmt.Errorf("history: run %d: %w", id, err)
	}
	res.Partners = nil
	rd := db.newReader(ctx, id)
	for i := range res.PrivateRoots {
		pr := &res.PrivateRoots[i]
		if pr.SHA256 != "" {
			if pr.DER, err = rd.der(pr.SHA256); err != nil {
				return nil, fmt.Errorf("history: run %d: %w", id, err)
			}
		}
	}
	if res.Changes, err = db.Changes(id); err != nil {
		return nil, err
	}
	return &res, nil
}

// EachResult calls fn with every result of run id in its order, reading
// readPage results at a time: memory does not grow with the run. The
// result fn gets is its own, but is not kept by EachResult. An error of fn
// stops the reading and is returned as it is.
func (db *DB) EachResult(id int64, fn func(*audit.Result) error) (err error) {
	var fnErr error
	defer func() {
		if err != nil && err != fnErr {
			err = db.wrap(OpRead, err)
		}
	}()
	ctx := context.Background()
	if _, err := runStarted(ctx, db.c(), id); err != nil {
		return err
	}
	rd := db.newReader(ctx, id)
	for after := -1; ; {
		page, err := rd.page(after)
		if err != nil {
			return err
		}
		for i := range page {
			if fnErr = fn(&page[i].Result); fnErr != nil {
				return fnErr
			}
		}
		if len(page) < readPage {
			return nil
		}
		after = page[len(page)-1].seq
	}
}

// reader reads the results of one run back, page by page.
type reader struct {
	db       *DB
	ctx      context.Context
	id       int64
	ders     map[string][]byte
	expanded map[string]audit.Cert
}

func (db *DB) newReader(ctx context.Context, id int64) *reader {
	return &reader{db: db, ctx: ctx, id: id, ders: map[string][]byte{}, expanded: map[string]audit.Cert{}}
}

// der returns the DER of the certificate with SHA-256 sha (nil when unknown).
func (rd *reader) der(sha string) ([]byte, error) {
	if b, ok := rd.ders[sha]; ok {
		return b, nil
	}
	var b []byte
	err := rd.db.c().QueryRowContext(rd.ctx, `SELECT der FROM certs WHERE sha256 = ?`, sha).Scan(&b)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("certificate %s: %w", sha, err)
	}
	if len(rd.ders) >= maxDERCache {
		clear(rd.ders)
		clear(rd.expanded)
	}
	rd.ders[sha] = b
	return b, nil
}

// paged is a result read back, with its position in the run.
type paged struct {
	audit.Result
	seq int
}

// page reads the (up to readPage) results of the run after position after.
func (rd *reader) page(after int) ([]paged, error) {
	id := rd.id
	type row struct {
		seq        int
		pdoc, bdoc []byte
		duration   int64
		timings    string
	}
	rows, err := rd.db.c().QueryContext(rd.ctx, `SELECT x.seq, p.doc, b.doc, x.duration_ms, x.timings
		FROM results x JOIN partners p ON p.id = x.partner_id JOIN bodies b ON b.id = x.body_id
		WHERE x.run_id = ? AND x.seq > ? ORDER BY x.seq LIMIT ?`, id, after, readPage)
	if err != nil {
		return nil, fmt.Errorf("history: run %d: %w", id, err)
	}
	var raw []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.seq, &x.pdoc, &x.bdoc, &x.duration, &x.timings); err != nil {
			rows.Close()
			return nil, fmt.Errorf("history: run %d: %w", id, err)
		}
		raw = append(raw, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: run %d: %w", id, err)
	}
	out := make([]paged, len(raw))
	at := make(map[int]int, len(raw))
	for i, x := range raw {
		var body storedBody
		if err := unmarshalDeflated(x.bdoc, &body); err != nil {
			return nil, fmt.Errorf("history: run %d result %d: %w", id, x.seq, err)
		}
		out[i].seq = x.seq
		at[x.seq] = i
		r := &out[i].Result
		*r = body.Result
		if err := json.Unmarshal(x.pdoc, &r.Partner); err != nil {
			return nil, fmt.Errorf("history: run %d result %d: %w", id, x.seq, err)
		}
		r.DurationMS = x.duration
		if r.SMTP.TimingsMS, err = decodeTimings(x.timings); err != nil {
			return nil, fmt.Errorf("history: run %d result %d: %w", id, x.seq, err)
		}
		if err := restoreChain(r.Chain, body.CompactChain, rd.der, rd.expanded); err != nil {
			return nil, fmt.Errorf("history: run %d result %d: %w", id, x.seq, err)
		}
		for k := range r.Targets {
			var compact []int
			if k < len(body.CompactTargets) {
				compact = body.CompactTargets[k]
			}
			if err := restoreChain(r.Targets[k].Chain, compact, rd.der, rd.expanded); err != nil {
				return nil, fmt.Errorf("history: run %d result %d target %d: %w", id, x.seq, k, err)
			}
		}
	}
	if len(raw) > 0 && rd.db.hasTargets() {
		if err := rd.restoreTargets(out, at, after, raw[len(raw)-1].seq); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// restoreTargets gives the targets of the results of page (positions
// after+1 to last, found by at) their durations and timings back.
func (rd *reader) restoreTargets(page []paged, at map[int]int, after, last int) error {
	id := rd.id
	rows, err := rd.db.c().QueryContext(rd.ctx, `SELECT seq, tseq, duration_ms, timings FROM targets WHERE run_id = ? AND seq > ? AND seq <= ?`, id, after, last)
	if err != nil {
		return fmt.Errorf("history: run %d targets: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, tseq int
		var dur int64
		var timings string
		if err := rows.Scan(&seq, &tseq, &dur, &timings); err != nil {
			return fmt.Errorf("history: run %d targets: %w", id, err)
		}
		i, ok := at[seq]
		if !ok || tseq < 0 || tseq >= len(page[i].Targets) {
			return fmt.Errorf("history: run %d: target %d of result %d out of range", id, tseq, seq)
		}
		t := &page[i].Targets[tseq]
		t.DurationMS = dur
		if t.SMTP.TimingsMS, err = decodeTimings(timings); err != nil {
			return fmt.Errorf("history: run %d result %d target %d: %w", id, seq, tseq, err)
		}
	}
	return rows.Err()
}
