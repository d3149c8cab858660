package reports

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// FileVantagesCSV is the side-by-side view of one audit from several vantage points.
const FileVantagesCSV = "vantages.csv"

// DefaultVantage is how the vantage point of runs without --vantage is named.
const DefaultVantage = "default"

// Vantages is one audit seen from several vantage points, as the workbook
// (a Vantage Points sheet) and the PDF (a section) show it beside the run
// they render: the rows that differ, and how many every point saw alike.
type Vantages struct {
	Names []string     // the vantage points, in column order ("" is DefaultVantage)
	Rows  []VantageRow // the rows that differ between them (Differing)
	Same  int          // rows every vantage point saw alike
}

// VantageRow is one target of a partner (one inventory row, for results
// without targets) as each vantage point saw it.
type VantageRow struct {
	Partner string
	Domain  string
	Host    string
	Port    int
	Address string
	// Verdicts holds the primary verdict from each vantage point, in the
	// order of the names given to CompareVantages; "" where that vantage
	// point did not audit the row.
	Verdicts []audit.Verdict
	// Note says what differs: "fails from us-east only" when the row fails
	// (severity error or critical) from some vantage points and not from
	// the others, "verdicts differ" when the verdicts differ otherwise,
	// "" when every vantage point saw the same.
	Note string
}

// CompareVantages puts the results of one audit from several vantage
// points side by side, one row per target of a partner (MX host, port and
// address: a partner's worst target may differ between vantage points, its
// targets do not), or per partner row for results without targets, in the
// first run's order, then rows only later runs hold. names[i] names
// runs[i]; "" is DefaultVantage.
func CompareVantages(names []string, runs []*audit.Results) []VantageRow {
	c := NewVantageComparison(names)
	for v, res := range runs {
		for i := range res.Partners {
			c.Add(v, &res.Partners[i])
		}
	}
	return c.Rows()
}

// VantageComparison is CompareVantages taking the partners one at a time
// (each vantage point's run read as a stream): it holds a row per target,
// not the results.
type VantageComparison struct {
	names   []string
	index   map[string]int
	rows    []VantageRow
	failing [][]bool // per row, per vantage point
}

// NewVantageComparison starts the comparison of the vantage points names.
func NewVantageComparison(names []string) *VantageComparison {
	return &VantageComparison{names: names, index: map[string]int{}}
}

// Add puts partner r, as vantage point v (an index of names) saw it, in the comparison.
func (c *VantageComparison) Add(v int, r *audit.Result) {
	for _, u := range vantageUnits(r) {
		key := fmt.Sprintf("%s\x00%s\x00%s\x00%d\x00%s", u.Name, u.Domain, u.Host, u.Port, u.Address)
		j, ok := c.index[key]
		if !ok {
			j = len(c.rows)
			c.index[key] = j
			c.rows = append(c.rows, VantageRow{Partner: u.Name, Domain: u.Domain, Host: u.Host, Port: u.Port, Address: u.Address,
				Verdicts: make([]audit.Verdict, len(c.names))})
			c.failing = append(c.failing, make([]bool, len(c.names)))
		}
		c.rows[j].Verdicts[v] = u.Verdict
		c.failing[j][v] = u.VerdictSeverity(u.Verdict).Level() >= audit.Error.Level()
	}
}

// Rows returns the rows, each with its note.
func (c *VantageComparison) Rows() []VantageRow {
	for j := range c.rows {
		c.rows[j].Note = vantageNote(c.names, c.rows[j].Verdicts, func(v int) bool { return c.failing[j][v] })
	}
	return c.rows
}

// vantageUnits returns what CompareVantages compares of partner r: each
// of its targets as the result of that target alone, or r itself when it
// has none (a DNS failure, a null MX, a schema-1 result).
func vantageUnits(r *audit.Result) []audit.Result {
	if len(r.Targets) == 0 {
		return []audit.Result{*r}
	}
	out := make([]audit.Result, len(r.Targets))
	for k := range r.Targets {
		out[k] = r.Targets[k].View(r)
	}
	return out
}

// vantageNote is VantageRow.Note for one row.
func vantageNote(names []string, verdicts []audit.Verdict, failing func(int) bool) string {
	var audited, fails []int
	for v, vd := range verdicts {
		if vd == "" || vd == audit.NotProbed {
			continue
		}
		audited = append(audited, v)
		if failing(v) {
			fails = append(fails, v)
		}
	}
	if len(fails) > 0 && len(fails) < len(audited) {
		var ns []string
		for _, v := range fails {
			ns = append(ns, vantageName(names[v]))
		}
		return "fails from " + joinAnd(ns) + " only"
	}
	for _, v := range audited {
		if verdicts[v] != verdicts[audited[0]] {
			return "verdicts differ"
		}
	}
	return ""
}

func vantageName(n string) string {
	if n == "" {
		return DefaultVantage
	}
	return n
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// VantagesCSVHeader returns the header of vantages.csv for the vantage points names.
func VantagesCSVHeader(names []string) []string {
	h := []string{"partner", "domain", "host", "port", "address"}
	for _, n := range names {
		h = append(h, "verdict_"+vantageName(n))
	}
	return append(h, "note")
}

// WriteVantagesCSV writes vantages.csv: one row per target, the
// verdict from each vantage point in a column, and the note.
func WriteVantagesCSV(w io.Writer, names []string, rows []VantageRow) error {
	cw := newCSV(w, 3)
	cw.Write(VantagesCSVHeader(names))
	for _, r := range rows {
		rec := []string{r.Partner, r.Domain, r.Host, fmt.Sprint(r.Port), r.Address}
		for _, v := range r.Verdicts {
			rec = append(rec, string(v))
		}
		cw.Write(append(rec, r.Note))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("vantages csv: %w", err)
	}
	return nil
}

// Differing returns the rows with a note, in order.
func Differing(rows []VantageRow) []VantageRow {
	return slices.DeleteFunc(slices.Clone(rows), func(r VantageRow) bool { return r.Note == "" })
}
