package reports

import (
	"fmt"
	"io"
	"iter"
	"net"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// SheetTargets is the workbook sheet with one row per target (MX address).
const SheetTargets = "Targets"

// FileTargetsCSV is targets.csv: one row per target.
const FileTargetsCSV = "targets.csv"

// TargetsCSVHeader is the header of targets.csv: one row per target (an
// address of an MX host of a partner), partners in results order.
var TargetsCSVHeader = []string{
	"partner", "domain", "mx", "preference", "found", "address", "family", "port", "tls", "verdict", "verdicts", "severity",
	"leaf_subject", "issuer", "not_after", "days_left", "root_store", "tls_version", "error", "shared_probe_with",
}

// targetFacts is one target as the Targets sheet, targets.csv and the PDF tell it.
type targetFacts struct {
	r        *audit.Result // the partner
	t        *audit.TargetResult
	view     audit.Result // the target as a result of the partner alone
	ip       string
	verdicts string // comma-separated
	severity audit.Severity
	subject  string
	issuer   string
	notAfter time.Time
	daysLeft *int
}

func (v *view) target(r *audit.Result, t *audit.TargetResult) targetFacts {
	f := targetFacts{r: r, t: t, view: t.View(r), ip: t.Address}
	if h, _, err := net.SplitHostPort(t.Address); err == nil {
		f.ip = h
	}
	vs := make([]string, len(t.Verdicts))
	for j, vd := range t.Verdicts {
		vs[j] = string(vd)
	}
	f.verdicts = strings.Join(vs, ", ")
	f.severity = f.view.VerdictSeverity(t.Verdict)
	for _, vd := range t.Verdicts {
		if s := f.view.VerdictSeverity(vd); s.Level() > f.severity.Level() {
			f.severity = s
		}
	}
	f.subject, f.issuer, f.notAfter, f.daysLeft = v.leafFacts(&f.view)
	return f
}

// targets writes the Targets sheet: one row per MX address, with the
// partner's name and domain on every row, so filters select by partner,
// MX, family or verdict.
func (x *xl) targets() error {
	cols := []column{
		{"Partner", 28}, {"Domain", 22}, {"MX host", 30}, {"Preference", 11}, {"Found", 12}, {"Address", 24}, {"Family", 8},
		{"Port", 7}, {"TLS mode", 10}, {"Verdict", 18}, {"All verdicts", 30}, {"Severity", 11}, {"Leaf subject", 36},
		{"Issuer", 36}, {"Expires", 12}, {"Days left", 10}, {"Root source", 12}, {"TLS version", 11}, {"Error", 40},
		{"Shared probe with", 24},
	}
	s := sheet{name: SheetTargets, table: "Targets", cols: cols, whole: FileTargetsCSV}
	return x.stream(s, func(row func([]any) error) error {
		for r := range x.partners {
			for k := range r.Targets {
				if err := row(x.targetCells(x.v.target(r, &r.Targets[k]))); err != nil {
					return err
				}
			}
		}
		return nil
	}, func(last int) error {
		if err := x.severityCF(SheetTargets, "L", last); err != nil {
			return err
		}
		return x.daysCF(SheetTargets, "P", last, x.v.th.ExpiryWarningDays)
	})
}

// targetCells are the cells of a target's row of the Targets sheet.
func (x *xl) targetCells(f targetFacts) []any {
	var days any
	if f.daysLeft != nil {
		days = *f.daysLeft
	}
	t := f.t
	return []any{
		f.r.Name, f.r.Domain, t.MX, t.Preference, t.Found, f.ip, t.Family, t.Port, string(t.TLS),
		string(t.Verdict), f.verdicts, string(f.severity), f.subject, f.issuer, f.notAfter, days,
		t.Root.Store, t.TLSVersion, t.Error, t.SharedWith,
	}
}

// WriteTargetsCSV writes targets.csv: one row per target (an address of an MX host of a partner).
func WriteTargetsCSV(w io.Writer, res *audit.Results, opts Options) error {
	return WriteTargetsCSVFrom(w, res, PartnersOf(res), opts)
}

// WriteTargetsCSVFrom writes targets.csv as WriteTargetsCSV does, row by
// row from partners (in results order) instead of res.Partners.
func WriteTargetsCSVFrom(w io.Writer, res *audit.Results, partners iter.Seq[*audit.Result], opts Options) error {
	v, err := newHeadView(res, opts, false)
	if err != nil {
		return err
	}
	cw := newCSV(w, 3, 7, 15)
	cw.Write(TargetsCSVHeader)
	for r := range partners {
		for k := range r.Targets {
			f := v.target(r, &r.Targets[k])
			days := ""
			if f.daysLeft != nil {
				days = fmt.Sprint(*f.daysLeft)
			}
			t := f.t
			cw.Write([]string{
				f.r.Name, f.r.Domain, t.MX, fmt.Sprint(t.Preference), t.Found, f.ip, t.Family, fmt.Sprint(t.Port), string(t.TLS),
				string(t.Verdict), strings.ReplaceAll(f.verdicts, ", ", " "), string(f.severity), f.subject, f.issuer, Day(f.notAfter), days,
				t.Root.Store, t.TLSVersion, t.Error, t.SharedWith,
			})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("targets csv: %w", err)
	}
	return nil
}

// hostPort names where a partner's result was found: its (worst target's)
// host:port, or its domain when no address was found (DNSError, NullMX).
func hostPort(r *audit.Result) string {
	if r.Host == "" {
		return r.Domain
	}
	return fmt.Sprintf("%s:%d", r.Host, r.Port)
}

// addresses returns how many targets partner r has and how many of them fail, for the Partners sheet and CSV.
func addresses(r *audit.Result) (n, failing int) { return len(r.Targets), r.TargetsFailing }

// targetsTable writes a partner's targets as a small table (MX, preference,
// address, verdicts) when it has several, or was found through its domain.
func (d *doc) targetsTable(r *audit.Result) {
	if len(r.Targets) == 0 || len(r.Targets) == 1 && r.Targets[0].Found == audit.FoundHost {
		return
	}
	title := fmt.Sprintf("Mail servers audited: %d addresses", len(r.Targets))
	if t := r.TargetsText(); t != "" {
		title += ", failing: " + t
	}
	if len(r.NotTested) > 0 {
		title += fmt.Sprintf(" (%d not tested from here)", len(r.NotTested))
	}
	d.tableTitle(title)
	facts := make([]targetFacts, len(r.Targets))
	for k := range r.Targets {
		facts[k] = d.v.target(r, &r.Targets[k])
	}
	d.table([]tcol{{"MX host", 58, "L", true}, {"Pref", 10, "R", false}, {"Address", 42, "L", true}, {"Verdicts", 70, "L", true}},
		len(facts), func(k int) ([]string, []mark) {
			f := facts[k]
			return []string{f.t.MX, fmt.Sprint(f.t.Preference), f.ip, f.verdicts}, []mark{{3, sevColor(f.severity)}}
		})
}
