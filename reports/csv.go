package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"iter"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// PartnersCSVHeader is the header of partners.csv: one row per partner.
var PartnersCSVHeader = []string{
	"partner", "domain", "host", "port", "tls", "enforced", "verdict", "verdicts", "severity",
	"leaf_subject", "issuer", "not_after", "days_left", "root_store", "root_file", "findings", "error",
	"revocation", "revocation_next_update", "addresses", "addresses_failing",
}

// FindingsCSVHeader is the header of findings.csv: one row per finding, most severe first.
var FindingsCSVHeader = []string{"partner", "domain", "host", "severity", "origin", "issue", "message", "remedy"}

// ChangesCSVHeader is the header of changes.csv: one row per change since
// the previous run, in results order; target names the MX address it concerns.
var ChangesCSVHeader = []string{"partner", "change", "kind", "before", "after", "since_run", "target"}

// RootsCSVHeader is the header of private-roots.csv: one row per private root, soonest expiry first.
var RootsCSVHeader = []string{
	"file", "subject", "sha1", "sha256", "not_before", "not_after", "days_left", "status", "declared_by", "used_by", "action",
}

// TrustErrorsCSVHeader is the header of trust-errors.csv: one row per trust file skipped or only partly read.
var TrustErrorsCSVHeader = []string{"file", "message"}

// CSVCell makes text safe for a CSV cell that Excel or LibreOffice opens:
// a leading '=', '+', '-', '@', tab or carriage return would start a
// formula (CSV injection, as OWASP describes it), so such text gets a
// leading apostrophe; NUL and the other control characters except tab, CR
// and LF become U+FFFD, so a cell never carries them raw.
func CSVCell(s string) string {
	if strings.ContainsFunc(s, badControl) {
		s = strings.Map(func(r rune) rune {
			if badControl(r) {
				return '\uFFFD'
			}
			return r
		}, s)
	}
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func badControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7F
}

// csvWriter writes records through CSVCell, except the columns holding numbers mxaudit computed.
type csvWriter struct {
	*csv.Writer
	numeric map[int]bool
}

func newCSV(w io.Writer, numeric ...int) *csvWriter {
	cw := &csvWriter{Writer: csv.NewWriter(w), numeric: map[int]bool{}}
	for _, i := range numeric {
		cw.numeric[i] = true
	}
	return cw
}

func (cw *csvWriter) Write(rec []string) error {
	out := make([]string, len(rec))
	for i, f := range rec {
		if cw.numeric[i] {
			out[i] = f
		} else {
			out[i] = CSVCell(f)
		}
	}
	return cw.Writer.Write(out)
}

// WriteTrustErrorsCSV writes trust-errors.csv: every trust file that was skipped or only partly read.
func WriteTrustErrorsCSV(w io.Writer, errs []audit.TrustError) error {
	cw := newCSV(w)
	cw.Write(TrustErrorsCSVHeader)
	for _, e := range errs {
		cw.Write([]string{e.File, e.Message})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("trust errors csv: %w", err)
	}
	return nil
}

// WritePartnersCSV writes partners.csv (RFC 4180, UTF-8, dates as YYYY-MM-DD, lists joined with spaces or "; ").
func WritePartnersCSV(w io.Writer, res *audit.Results, opts Options) error {
	return WritePartnersCSVFrom(w, res, PartnersOf(res), opts)
}

// WritePartnersCSVFrom writes partners.csv as WritePartnersCSV does, row by
// row from partners (in results order) instead of res.Partners, which it
// does not read.
func WritePartnersCSVFrom(w io.Writer, res *audit.Results, partners iter.Seq[*audit.Result], opts Options) error {
	v, err := newHeadView(res, opts, false)
	if err != nil {
		return err
	}
	cw := newCSV(w, 3, 12, 15, 19, 20)
	cw.Write(PartnersCSVHeader)
	var fs []Finding
	for r := range partners {
		if fs, err = v.appendFindings(fs[:0], 0, r); err != nil {
			return err
		}
		subj, iss, na, dl := v.leafFacts(r)
		days := ""
		if dl != nil {
			days = fmt.Sprint(*dl)
		}
		vs := make([]string, len(r.Verdicts))
		for j, vd := range r.Verdicts {
			vs[j] = string(vd)
		}
		rev, until := revocationFacts(r)
		cw.Write([]string{
			r.Name, r.Domain, r.Host, fmt.Sprint(r.Port), string(r.TLS), fmt.Sprint(r.Enforced), string(r.Verdict),
			strings.Join(vs, " "), string(r.WorstSeverity()), subj, iss, Day(na), days, r.Root.Store, r.Root.File,
			fmt.Sprint(len(fs)), r.Error, rev, Day(until), fmt.Sprint(len(r.Targets)), fmt.Sprint(r.TargetsFailing),
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("partners csv: %w", err)
	}
	return nil
}

// WriteFindingsCSV writes findings.csv: every verdict (source "verdict") and check finding of every partner.
func WriteFindingsCSV(w io.Writer, res *audit.Results, opts Options) error {
	return WriteFindingsCSVFrom(w, res, PartnersOf(res), opts)
}

// WriteFindingsCSVFrom writes findings.csv as WriteFindingsCSV does (most
// severe first, then in results order) from partners instead of
// res.Partners: it ranges over partners once per severity level that
// occurs, holding one partner's findings at a time, so partners must give
// the same results each time it is ranged over.
func WriteFindingsCSVFrom(w io.Writer, res *audit.Results, partners iter.Seq[*audit.Result], opts Options) error {
	v, err := newHeadView(res, opts, false)
	if err != nil {
		return err
	}
	cw := newCSV(w)
	cw.Write(FindingsCSVHeader)
	// Levels run from audit.Critical's down to -1 (a severity mxaudit does not know).
	top := audit.Critical.Level()
	seen := make([]bool, top+2) // seen[level+1]
	var fs []Finding
	for level := top; level >= -1; level-- {
		if level < top && !seen[level+1] {
			continue
		}
		for r := range partners {
			if fs, err = v.appendFindings(fs[:0], 0, r); err != nil {
				return err
			}
			for _, f := range fs {
				l := max(f.Severity.Level(), -1)
				seen[l+1] = true
				if l == level {
					cw.Write([]string{r.Name, r.Domain, r.Host, string(f.Severity), f.Origin, f.Issue, f.Message, f.Remedy})
				}
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("findings csv: %w", err)
	}
	return nil
}

// PartnersOf gives the partners of res one at a time, in results order.
func PartnersOf(res *audit.Results) iter.Seq[*audit.Result] {
	return func(yield func(*audit.Result) bool) {
		for i := range res.Partners {
			if !yield(&res.Partners[i]) {
				return
			}
		}
	}
}

// WriteRootsCSV writes private-roots.csv with the recommended action of
// each root, graded under th (the run's thresholds) where a root carries no status.
func WriteRootsCSV(w io.Writer, roots []audit.PrivateRoot, th audit.Thresholds, opts Options) error {
	tpl := opts.Templates
	cw := newCSV(w, 6)
	cw.Write(RootsCSVHeader)
	for _, r := range sortedRoots(roots) {
		act, err := RootAction(tpl, r, th)
		if err != nil {
			return err
		}
		cw.Write([]string{
			r.File, r.Subject, r.SHA1, r.SHA256, Day(r.NotBefore), Day(r.NotAfter), fmt.Sprint(r.DaysLeft),
			audit.RootStatusOf(r, th), strings.Join(r.DeclaredBy, "; "), strings.Join(r.UsedBy, "; "), act,
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("private roots csv: %w", err)
	}
	return nil
}

// WriteChangesCSV writes changes.csv: every change since the previous run, the kind in words and as written in results.json.
func WriteChangesCSV(w io.Writer, res *audit.Results, opts Options) error {
	v, err := newHeadView(res, opts, false)
	if err != nil {
		return err
	}
	cw := newCSV(w, 5)
	cw.Write(ChangesCSVHeader)
	for _, c := range res.Changes {
		label, err := v.changeLabel(c.Kind)
		if err != nil {
			return err
		}
		cw.Write([]string{c.Partner, label, c.Kind, c.Before, c.After, fmt.Sprint(c.SinceRun), c.Target})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("changes csv: %w", err)
	}
	return nil
}
