package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// SummaryOptions choose the runs a Summary covers.
type SummaryOptions struct {
	Since     time.Time      // first instant covered
	Until     time.Time      // end of the period, exclusive; zero for no end
	Inventory string         // only runs of this inventory path; "" for all
	Location  *time.Location // calendar for counting days; nil for UTC
}

// Summary is the quarterly view of every complete run in a period.
type Summary struct {
	Since     time.Time        `json:"since"`
	Until     time.Time        `json:"until,omitzero"`
	Inventory string           `json:"inventory,omitempty"`
	Runs      int              `json:"runs"`
	FirstRun  int64            `json:"first_run,omitempty"`
	LastRun   int64            `json:"last_run,omitempty"`
	Partners  []PartnerSummary `json:"partners"`
}

// PartnerSummary is one partner's record over a Summary's period.
//
// A run counts as a failure for a partner when its verdict's severity is
// error or critical (audit.Verdict.Severity with the partner's Enforced).
type PartnerSummary struct {
	Partner         string          `json:"partner"`
	Target          string          `json:"target"`            // what the row audits: a partner may list several MX hosts
	Vantage         string          `json:"vantage,omitempty"` // the vantage point: each is summarised on its own
	Runs            int             `json:"runs"`
	FailedRuns      int             `json:"failed_runs"`
	DaysWithFailure int             `json:"days_with_failures"`
	FirstFailure    time.Time       `json:"first_failure,omitzero"`
	LastFailure     time.Time       `json:"last_failure,omitzero"`
	Worst           audit.Verdict   `json:"worst_verdict"`
	Last            audit.Verdict   `json:"last_verdict"`
	CertChanges     []CertChange    `json:"certificate_changes"`
	Verdicts        map[string]int  `json:"verdicts"` // runs per verdict
	lastLeaf        int64           // certs.id of the previous run's leaf
	days            map[string]bool // calendar days with a failure
}

// CertChange is one replacement of a partner's leaf certificate between two runs.
type CertChange struct {
	Run    int64     `json:"run"` // the first run that saw the new certificate
	At     time.Time `json:"at"`
	Before string    `json:"before"`
	After  string    `json:"after"`
	Issuer bool      `json:"issuer_changed"`
}

// Summary summarises every complete run started in [o.Since, o.Until).
// Each target of a partner (each inventory row, for runs recorded before
// targets) is summarised on its own per vantage point, listed by partner
// name, target, vantage point.
func (db *DB) Summary(o SummaryOptions) (_ *Summary, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	ctx := context.Background()
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	until := int64(1<<63 - 1)
	if !o.Until.IsZero() {
		until = o.Until.UnixNano()
	}
	where := ` WHERE r.status = ? AND r.started >= ? AND r.started < ?`
	args := []any{StatusComplete, o.Since.UnixNano(), until}
	if o.Inventory != "" {
		where += ` AND r.inventory = ?`
		args = append(args, o.Inventory)
	}
	// The target of each stored partner row, from its document (schema 2
	// databases read without migration have no target column).
	targets := map[int64]string{}
	trows, err := db.c().QueryContext(ctx, `SELECT id, doc FROM partners WHERE id IN
		(SELECT DISTINCT x.partner_id FROM runs r JOIN results x ON x.run_id = r.id`+where+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("history: summary: %w", err)
	}
	for trows.Next() {
		var id int64
		var doc []byte
		var p audit.Partner
		if err := trows.Scan(&id, &doc); err != nil {
			trows.Close()
			return nil, fmt.Errorf("history: summary: %w", err)
		}
		if err := json.Unmarshal(doc, &p); err != nil {
			trows.Close()
			return nil, fmt.Errorf("history: summary: partner row %d: %w", id, err)
		}
		targets[id] = stateKey(p.Host, p.Port, p.Address)
		if p.Host == "" { // a partner by domain whose DNS failed: no target
			targets[id] = p.Domain
		}
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return nil, fmt.Errorf("history: summary: %w", err)
	}
	vantage := "r.vantage"
	if db.schema > 0 && db.schema < 4 { // read without migrating: no vantage points yet
		vantage = "''"
	}
	q := `SELECT r.id, r.started, ` + vantage + `, p.id, p.name, p.enforced, x.verdict, x.leaf_id, NULL
		FROM runs r JOIN results x ON x.run_id = r.id JOIN partners p ON p.id = x.partner_id` + where + ` ORDER BY r.id, x.seq`
	if db.hasTargets() { // each target of a partner on its own
		q = `SELECT r.id, r.started, ` + vantage + `, p.id, p.name, p.enforced, coalesce(t.verdict, x.verdict),
			CASE WHEN t.run_id IS NULL THEN x.leaf_id ELSE t.leaf_id END, t.target
		FROM runs r JOIN results x ON x.run_id = r.id JOIN partners p ON p.id = x.partner_id
		LEFT JOIN targets t ON t.run_id = x.run_id AND t.seq = x.seq` + where + ` ORDER BY r.id, x.seq, t.tseq`
	}
	rows, err := db.c().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("history: summary: %w", err)
	}
	s := &Summary{Since: o.Since, Until: o.Until, Inventory: o.Inventory}
	byName := map[string]*PartnerSummary{}
	type pending struct {
		p        *PartnerSummary
		run      int64
		at       time.Time
		from, to int64
	}
	var changes []pending
	lastRun := int64(0)
	for rows.Next() {
		var run, started, pid int64
		var name string
		var enforced bool
		var verdict audit.Verdict
		var leaf sql.NullInt64
		var vp string
		var targetKey sql.NullString
		if err := rows.Scan(&run, &started, &vp, &pid, &name, &enforced, &verdict, &leaf, &targetKey); err != nil {
			rows.Close()
			return nil, fmt.Errorf("history: summary: %w", err)
		}
		if run != lastRun {
			s.Runs++
			if s.FirstRun == 0 {
				s.FirstRun = run
			}
			s.LastRun, lastRun = run, run
		}
		target := targets[pid]
		if targetKey.Valid {
			target = targetKey.String
		}
		p := byName[vp+"\x00"+name+"\x00"+target]
		if p == nil {
			p = &PartnerSummary{Partner: name, Target: target, Vantage: vp, Worst: audit.Valid, Verdicts: map[string]int{}, days: map[string]bool{}}
			byName[vp+"\x00"+name+"\x00"+target] = p
		}
		if verdict == audit.NotProbed {
			continue
		}
		at := fromNanos(started)
		p.Runs++
		p.Verdicts[string(verdict)]++
		p.Last = verdict
		if verdict.Rank() < p.Worst.Rank() {
			p.Worst = verdict
		}
		if verdict.Severity(enforced).Level() >= audit.Error.Level() {
			p.FailedRuns++
			if p.FirstFailure.IsZero() {
				p.FirstFailure = at
			}
			p.LastFailure = at
			p.days[at.In(loc).Format("2006-01-02")] = true
		}
		if leaf.Valid {
			if p.lastLeaf != 0 && p.lastLeaf != leaf.Int64 {
				changes = append(changes, pending{p, run, at, p.lastLeaf, leaf.Int64})
			}
			p.lastLeaf = leaf.Int64
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: summary: %w", err)
	}

	certs := map[int64]*leafInfo{}
	for _, c := range changes {
		for _, id := range []int64{c.from, c.to} {
			if certs[id] != nil {
				continue
			}
			var l leafInfo
			var notAfter int64
			if err := db.c().QueryRowContext(ctx, `SELECT sha256, subject, issuer, not_after FROM certs WHERE id = ?`, id).
				Scan(&l.SHA256, &l.Subject, &l.Issuer, &notAfter); err != nil {
				return nil, fmt.Errorf("history: summary: certificate %d: %w", id, err)
			}
			l.NotAfter = time.Unix(notAfter, 0).UTC()
			certs[id] = &l
		}
		from, to := certs[c.from], certs[c.to]
		c.p.CertChanges = append(c.p.CertChanges, CertChange{Run: c.run, At: c.at,
			Before: describeLeaf(from), After: describeLeaf(to), Issuer: from.Issuer != to.Issuer})
	}

	s.Partners = make([]PartnerSummary, 0, len(byName))
	for _, p := range byName {
		p.DaysWithFailure = len(p.days)
		if p.CertChanges == nil {
			p.CertChanges = []CertChange{}
		}
		s.Partners = append(s.Partners, *p)
	}
	sort.Slice(s.Partners, func(i, j int) bool {
		a, b := &s.Partners[i], &s.Partners[j]
		if a.Partner != b.Partner {
			return a.Partner < b.Partner
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Vantage < b.Vantage
	})
	return s, nil
}

// WriteJSON writes s as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(s)
}

func dateOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

// WriteText writes s as a plain-text table, one partner a line, then the
// certificate changes.
func (s *Summary) WriteText(w io.Writer) error {
	until := "now"
	if !s.Until.IsZero() {
		until = s.Until.UTC().Format("2006-01-02")
	}
	fmt.Fprintf(w, "Summary %s to %s: %d runs", s.Since.UTC().Format("2006-01-02"), until, s.Runs)
	if s.Runs > 0 {
		fmt.Fprintf(w, " (%d to %d)", s.FirstRun, s.LastRun)
	}
	fmt.Fprintln(w)
	if s.Inventory != "" {
		fmt.Fprintf(w, "Inventory: %s\n", s.Inventory)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tRUNS\tFAILED\tDAYS FAILING\tFIRST FAILURE\tLAST FAILURE\tWORST\tLAST\tCERT CHANGES\tTARGET")
	for _, p := range s.Partners {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", p.Partner, p.Runs, p.FailedRuns, p.DaysWithFailure,
			dateOrDash(p.FirstFailure), dateOrDash(p.LastFailure), p.Worst, p.Last, len(p.CertChanges), p.Target)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	first := true
	for _, p := range s.Partners {
		for _, c := range p.CertChanges {
			if first {
				fmt.Fprintln(w, "\nCertificate changes:")
				first = false
			}
			issuer := ""
			if c.Issuer {
				issuer = " [new issuer]"
			}
			fmt.Fprintf(w, "  %s  run %d  %s%s\n    before: %s\n    after:  %s\n", dateOrDash(c.At), c.Run, p.Partner, issuer, c.Before, c.After)
		}
	}
	return nil
}
