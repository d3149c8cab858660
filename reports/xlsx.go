package reports

import (
	"archive/zip"
	"bufio"
	"cmp"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mxaudit/mxaudit/audit"
)

// Sheet names of the workbook, in order.
const (
	SheetSummary         = "Summary"
	SheetPartners        = "Partners"
	SheetFindings        = "Findings"
	SheetChanges         = "Changes"
	SheetCertificates    = "Certificates"
	SheetPrivateRoots    = "Private Roots"
	SheetInventoryErrors = "Inventory Errors"
)

// maxCellText is kept below Excel's limit of 32,767 characters per cell.
const maxCellText = 32000

// xl holds a workbook being written and its styles.
type xl struct {
	f                          *excelize.File
	v                          *view
	partners                   iter.Seq[*audit.Result] // the run's partners, in results order; ranged once per pass
	ex                         *xlExtras               // what the tally pass gathered for the workbook alone
	header, date, stamp, bold  int
	title                      int
	sevFill                    map[audit.Severity]int // conditional styles
	daysRed, daysAmber, daysOK int
	worse, recovered           int // conditional styles of the Changes rows
	statusFill                 map[string]int
	footer                     string // the printed footer of every sheet
	vantages                   *Vantages
}

// WriteXLSX writes the audit workbook: Summary, Partners, Targets, Findings,
// Changes, Certificates, Policies, Private Roots and Inventory Errors (and
// Vantage Points with Options.Vantages).
func WriteXLSX(w io.Writer, res *audit.Results, opts Options) error {
	return WriteXLSXFrom(w, res, PartnersOf(res), opts)
}

// WriteXLSXFrom writes the workbook WriteXLSX writes, from partners (in
// results order) instead of head.Partners, which it does not read: it
// ranges over partners once for the Summary's counts, then once per sheet
// pass (the Partners sheet once per delivery outcome of our MTA's policy,
// the Findings sheet once per severity), so partners must give the same
// results each time, and holds one partner at a time.
func WriteXLSXFrom(w io.Writer, head *audit.Results, partners iter.Seq[*audit.Result], opts Options) error {
	return writeXLSX(w, head, partners, opts, false)
}

// PartnerXLSX writes the workbook of one partner (matched by name): every
// row of that name, told as its per-partner PDF tells it, to send to that partner.
func PartnerXLSX(w io.Writer, res *audit.Results, partner string, opts Options) error {
	one, err := partnerOnly(res, partner)
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return writeXLSX(w, one, PartnersOf(one), opts, true)
}

func writeXLSX(w io.Writer, res *audit.Results, partners iter.Seq[*audit.Result], opts Options, forPartner bool) error {
	v, err := newHeadView(res, opts, forPartner)
	if err != nil {
		return err
	}
	x, err := newXL(v)
	if err != nil {
		return err
	}
	defer x.f.Close()
	x.partners, x.vantages = partners, opts.Vantages
	if err := x.tally(partners); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if err := x.summary(); err != nil {
		return fmt.Errorf("xlsx: sheet %s: %w", SheetSummary, err)
	}
	for _, s := range []struct {
		name string
		fn   func() error
	}{
		{SheetPartners, x.partnersSheet},
		{SheetTargets, x.targets},
		{SheetFindings, x.findingsSheet},
		{SheetChanges, x.changes},
		{SheetCertificates, x.certificates},
		{SheetPolicies, x.policies},
		{SheetVantages, x.vantagesSheet},
		{SheetPrivateRoots, func() error { return x.privateRoots(res.PrivateRoots) }},
		{SheetInventoryErrors, x.inventoryErrors},
	} {
		if err := s.fn(); err != nil {
			return fmt.Errorf("xlsx: sheet %s: %w", s.name, err)
		}
	}
	if err := x.writeTo(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

// WriteRootsXLSX writes a workbook with the Private Roots sheet alone, and a
// Load Errors sheet naming the files that could not be read, for `mxaudit roots`.
func WriteRootsXLSX(w io.Writer, rl RootsLifecycle, opts Options) error {
	v, err := newView(&audit.Results{Started: rl.Now}, opts)
	if err != nil {
		return err
	}
	x, err := newXL(v)
	if err != nil {
		return err
	}
	defer x.f.Close()
	if err := x.f.SetSheetName("Sheet1", SheetPrivateRoots); err != nil {
		return err
	}
	if err := x.privateRootsOn(rl.Roots, false); err != nil {
		return fmt.Errorf("xlsx: sheet %s: %w", SheetPrivateRoots, err)
	}
	err = x.stream(sheet{name: "Load Errors", table: "LoadErrors", cols: []column{{"File", 40}, {"Error", 90}}}, func(row func([]any) error) error {
		for _, e := range rl.Errors {
			if err := row([]any{e.File, e.Message}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("xlsx: sheet Load Errors: %w", err)
	}
	if err := x.writeTo(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

func newXL(v *view) (*xl, error) {
	f := excelize.NewFile()
	x := &xl{f: f, v: v, sevFill: map[audit.Severity]int{}, statusFill: map[string]int{}}
	ts := v.now.Format(time.RFC3339)
	if err := f.SetDocProps(&excelize.DocProperties{
		Created: ts, Modified: ts, Creator: "mxaudit", LastModifiedBy: "mxaudit",
		Title: v.title, Subject: v.period, Description: v.org, Language: "en-GB",
	}); err != nil {
		f.Close()
		return nil, err
	}
	var err error
	style := func(s *excelize.Style) int {
		id, e := f.NewStyle(s)
		if e != nil && err == nil {
			err = e
		}
		return id
	}
	cond := func(fg, bg string) int {
		id, e := f.NewConditionalStyle(&excelize.Style{
			Font: &excelize.Font{Color: fg},
			Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{bg}},
		})
		if e != nil && err == nil {
			err = e
		}
		return id
	}
	x.header = style(&excelize.Style{
		Font:      &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"1F3864"}},
		Alignment: &excelize.Alignment{Vertical: "center"},
	})
	x.date = style(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd")})
	x.stamp = style(&excelize.Style{CustomNumFmt: ptr("yyyy-mm-dd hh:mm")})
	x.bold = style(&excelize.Style{Font: &excelize.Font{Bold: true}})
	x.title = style(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16}})
	x.sevFill[audit.Critical] = cond("FFFFFF", "C00000")
	x.sevFill[audit.Error] = cond("9C0006", "FFC7CE")
	x.sevFill[audit.Warning] = cond("7F6000", "FFEB9C")
	x.daysRed = cond("9C0006", "FFC7CE")
	x.daysAmber = cond("7F6000", "FFEB9C")
	x.daysOK = cond("006100", "C6EFCE")
	x.statusFill[audit.RootExpired] = x.daysRed
	x.statusFill[audit.RootExpiring] = x.daysAmber
	x.statusFill[audit.RootUnused] = cond("404040", "D9D9D9")
	x.statusFill[audit.RootOK] = x.daysOK
	x.worse = x.daysRed
	x.recovered = x.daysOK
	if err != nil {
		f.Close()
		return nil, err
	}
	if x.footer, err = printFooter(v); err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

// writeTo writes the workbook's zip archive straight to w: excelize's
// WriteTo builds the whole archive in a bytes.Buffer first, which grows
// with the rows, so the zip writer it uses (File.SetZipWriter) writes to
// w instead and WriteTo's buffer stays empty. (excelize marks entries over
// 4 GiB as zip64 by patching that buffer; no sheet of Excel's 1,048,576
// rows of ours comes near that.)
func (x *xl) writeTo(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	x.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(bw) })
	if _, err := x.f.WriteTo(io.Discard); err != nil {
		return err
	}
	return bw.Flush()
}

// Print settings of every sheet, the way an auditor prints a workbook.
const (
	printPaperA4  = 9   // SpreadsheetML paperSize of A4
	printMargin   = 0.4 // left and right margins, inches
	maxFooterText = 255 // Excel's limit on a header or footer, in UTF-16 units
)

// printFooter is the footer of every printed page: the report's footer
// wording (as in the PDF) on the left, the page number in the centre and
// the run's start on the right.
func printFooter(v *view) (string, error) {
	left, err := v.tpl.Text("footer.tmpl", map[string]any{"Org": v.org, "Title": v.title, "Period": v.period, "Date": Day(v.now)})
	if err != nil {
		return "", err
	}
	center := "&CPage &P of &N"
	right := "&RRun " + v.now.Format("2006-01-02 15:04") + " UTC"
	room := maxFooterText - utf16Len(center+right) - len("&L")
	left = strings.ReplaceAll(strings.TrimSpace(left), "&", "&&") // & starts a code in SpreadsheetML footers
	if utf16Len(left) > room {
		r := []rune(left)
		for len(r) > 0 && utf16Len(string(r))+1 > room {
			r = r[:len(r)-1]
		}
		cut := string(r)
		if amps := len(cut) - len(strings.TrimRight(cut, "&")); amps%2 == 1 {
			cut = cut[:len(cut)-1] // never leave half of an escaped &&
		}
		left = cut + "…"
	}
	return "&L" + left + center + right, nil
}

// utf16Len counts s the way Excel limits headers and footers.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// printSetup makes sheet print landscape on A4, one page wide (and one page
// tall when onePage), with narrow margins, its first row repeated on every
// page and the run's footer. The sheet properties must be set before a
// StreamWriter is opened on sheet: it writes them out first.
func (x *xl) printSetup(sheet string, onePage bool) error {
	f := x.f
	tall := 0 // as many pages tall as the rows need
	if onePage {
		tall = 1
	}
	if err := f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: ptr(true)}); err != nil {
		return err
	}
	if err := f.SetPageLayout(sheet, &excelize.PageLayoutOptions{
		Size: ptr(printPaperA4), Orientation: ptr("landscape"), FitToWidth: ptr(1), FitToHeight: ptr(tall),
	}); err != nil {
		return err
	}
	if err := f.SetPageMargins(sheet, &excelize.PageLayoutMarginsOptions{
		Left: ptr(printMargin), Right: ptr(printMargin), Top: ptr(0.5), Bottom: ptr(0.6), Header: ptr(0.3), Footer: ptr(0.3),
	}); err != nil {
		return err
	}
	if err := f.SetHeaderFooter(sheet, &excelize.HeaderFooterOptions{OddFooter: x.footer}); err != nil {
		return err
	}
	return f.SetDefinedName(&excelize.DefinedName{
		Name: "_xlnm.Print_Titles", RefersTo: "'" + strings.ReplaceAll(sheet, "'", "''") + "'!$1:$1", Scope: sheet,
	})
}

func ptr[T any](v T) *T { return &v }

type column struct {
	title string
	width float64
}

// MaxSheetRows is Excel's limit of rows in a sheet. A variable so that
// tests can lower it.
var MaxSheetRows = 1048576

// sheet is a sheet stream writes: its name, its table and columns, and
// where every row is when Excel's row limit leaves some out.
type sheet struct {
	name, table string
	cols        []column
	existing    bool   // the sheet exists already (the workbook's first)
	whole       string // the file holding every row, named when MaxSheetRows leaves rows out
	// note, when set, returns a line written below the table once the rows
	// are written ("" for none).
	note func() string
}

// stream writes a sheet with the StreamWriter: frozen header, column widths,
// rows, a table (which carries the autofilter) and conditional formats.
// Rows beyond Excel's limit are counted, not written, and a note row below
// the table says how many were left out and where they are.
func (x *xl) stream(s sheet, rows func(func([]any) error) error, cf func(last int) error) error {
	if !s.existing {
		if _, err := x.f.NewSheet(s.name); err != nil {
			return err
		}
	}
	if err := x.printSetup(s.name, false); err != nil {
		return err
	}
	sw, err := x.f.NewStreamWriter(s.name)
	if err != nil {
		return err
	}
	if err := sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}); err != nil {
		return err
	}
	for i, c := range s.cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return err
		}
	}
	head := make([]any, len(s.cols))
	for i, c := range s.cols {
		head[i] = excelize.Cell{StyleID: x.header, Value: c.title}
	}
	if err := sw.SetRow("A1", head, excelize.RowOpts{Height: 20}); err != nil {
		return err
	}
	n, left := 1, 0
	maxRow := MaxSheetRows - 2 // room for the notes below the table
	err = rows(func(vals []any) error {
		if n >= maxRow {
			left++
			return nil
		}
		n++
		for i, val := range vals {
			switch t := val.(type) {
			case time.Time:
				if t.IsZero() {
					vals[i] = nil
				} else {
					vals[i] = excelize.Cell{StyleID: x.date, Value: t.UTC()}
				}
			case string:
				if len(t) > maxCellText {
					vals[i] = t[:maxCellText] + " …"
				}
			}
		}
		return sw.SetRow("A"+strconv.Itoa(n), vals)
	})
	if err != nil {
		return err
	}
	last := max(n, 2) // a table needs a row below its header
	lastCol, _ := excelize.ColumnNumberToName(len(s.cols))
	if err := sw.AddTable(&excelize.Table{
		Range: fmt.Sprintf("A1:%s%d", lastCol, last), Name: s.table,
		StyleName: "TableStyleLight1", ShowRowStripes: ptr(true),
	}); err != nil {
		return err
	}
	var notes []string
	if left > 0 {
		notes = append(notes, fmt.Sprintf("%d more rows are left out: a sheet holds %d rows at most; %s holds every row.", left, MaxSheetRows, cmp.Or(s.whole, FileResultsJSON)))
	}
	if s.note != nil {
		if t := s.note(); t != "" {
			notes = append(notes, t)
		}
	}
	for i, t := range notes {
		if err := sw.SetRow("A"+strconv.Itoa(last+1+i), []any{excelize.Cell{StyleID: x.bold, Value: t}}); err != nil {
			return err
		}
	}
	if cf != nil {
		if err := cf(last); err != nil {
			return err
		}
	}
	return sw.Flush()
}

// severityCF colours a severity column: critical, error, warning.
func (x *xl) severityCF(sheet, col string, last int) error {
	return x.severityCFRange(sheet, fmt.Sprintf("%s2:%s%d", col, col, last))
}

// severityCFRange colours the severity names in rangeRef.
func (x *xl) severityCFRange(sheet, rangeRef string) error {
	var opts []excelize.ConditionalFormatOptions
	for _, s := range []audit.Severity{audit.Critical, audit.Error, audit.Warning} {
		opts = append(opts, excelize.ConditionalFormatOptions{Type: "cell", Criteria: "==", Value: `"` + string(s) + `"`, Format: ptr(x.sevFill[s])})
	}
	return x.f.SetConditionalFormat(sheet, rangeRef, opts)
}

// daysCF colours a days-left column: red when passed, amber within window
// days (the run's expiry_warning_days for certificates, root_expiring_days
// for private roots), green beyond.
func (x *xl) daysCF(sheet, col string, last, window int) error {
	return x.f.SetConditionalFormat(sheet, fmt.Sprintf("%s2:%s%d", col, col, last), []excelize.ConditionalFormatOptions{
		{Type: "cell", Criteria: "<", Value: "0", Format: ptr(x.daysRed), StopIfTrue: true},
		{Type: "cell", Criteria: "<=", Value: fmt.Sprint(window), Format: ptr(x.daysAmber), StopIfTrue: true},
		{Type: "cell", Criteria: ">", Value: fmt.Sprint(window), Format: ptr(x.daysOK)},
	})
}

func (x *xl) summary() error {
	f, v, s := x.f, x.v, SheetSummary
	if err := f.SetSheetName("Sheet1", s); err != nil {
		return err
	}
	set := func(cell string, val any, style int) error {
		if err := f.SetCellValue(s, cell, val); err != nil {
			return err
		}
		if style != 0 {
			return f.SetCellStyle(s, cell, cell, style)
		}
		return nil
	}
	if err := set("A1", v.title, x.title); err != nil {
		return err
	}
	if err := set("A2", v.org+" · "+v.period, 0); err != nil {
		return err
	}
	t := v.tallied()
	rootsAttention := v.rootsToActOn()
	facts := [][2]any{
		{"Organisation", v.org},
		{"Report period", v.period},
		{"Run started", v.res.Started.UTC()},
		{"Run finished", v.res.Finished.UTC()},
		{"Inventory", v.res.Inventory},
		{"Run complete", !v.res.Incomplete},
		{"Partners", t.partners},
		{"Partners with a problem", t.failingTold()},
		{"Findings", t.nFindings},
		{"Changes since the previous run", len(v.res.Changes)},
		{"Private roots", len(v.res.PrivateRoots)},
		{"Private roots expired or expiring", rootsAttention},
		{"Inventory errors", len(v.res.InventoryErrors)},
		{"Results schema", v.res.Schema},
	}
	if d := t.deliverySummary(); d != "" { // leads, after the partner count
		facts = slices.Insert(facts, 7, [2]any{"Delivery (our MTA's policy)", d})
	}
	if n := len(v.res.TrustErrors); n > 0 { // named in the PDF and trust-errors.csv
		facts = slices.Insert(facts, len(facts)-1, [2]any{"Trust files not read", n})
	}
	if vs := x.vantages; vs != nil { // the Vantage Points sheet
		names := make([]string, len(vs.Names))
		for i, n := range vs.Names {
			names[i] = vantageName(n)
		}
		facts = slices.Insert(facts, len(facts)-1, [2]any{"Vantage points", strings.Join(names, ", ")},
			[2]any{"Targets seen differently", len(vs.Rows)}, [2]any{"Targets seen alike", vs.Same})
	}
	for _, k := range audit.ThresholdKeys { // what the run was graded by
		n, _ := v.th.Get(k)
		facts = slices.Insert(facts, len(facts)-1, [2]any{"Threshold " + k, n})
	}
	row := 4
	for _, fa := range facts {
		if err := set(fmt.Sprintf("A%d", row), fa[0], x.bold); err != nil {
			return err
		}
		st := 0
		if t, ok := fa[1].(time.Time); ok {
			st = x.stamp
			if t.IsZero() {
				fa[1] = ""
			}
		}
		if err := set(fmt.Sprintf("B%d", row), fa[1], st); err != nil {
			return err
		}
		row++
	}
	row++
	table := func(title string, head [3]string, counts []count, extra func(c count) any) (first, last int, err error) {
		if err = set(fmt.Sprintf("A%d", row), title, x.bold); err != nil {
			return
		}
		row++
		for i, h := range head {
			if h == "" {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(i+1, row)
			if err = set(cell, h, x.header); err != nil {
				return
			}
		}
		row++
		first = row
		for _, c := range counts {
			if err = f.SetSheetRow(s, fmt.Sprintf("A%d", row), &[]any{c.Label, c.N}); err != nil {
				return
			}
			if extra != nil {
				if err = set(fmt.Sprintf("C%d", row), extra(c), 0); err != nil {
					return
				}
			}
			row++
		}
		last = row - 1
		row++
		return
	}
	vc := v.byVerdict()
	vFirst, vLast, err := table("Partners by verdict", [3]string{"Verdict", "Partners", ""}, vc, nil)
	if err != nil {
		return err
	}
	fs := t.findings
	sFirst, sLast, err := table("By severity", [3]string{"Severity", "Partners (worst)", "Findings"}, v.bySeverity(),
		func(c count) any { return fs[audit.Severity(c.Label)] })
	if err != nil {
		return err
	}
	if err := f.SetColWidth(s, "A", "A", 34); err != nil {
		return err
	}
	if err := f.SetColWidth(s, "B", "C", 22); err != nil {
		return err
	}
	if err := x.severityCFRange(s, fmt.Sprintf("A%d:A%d", sFirst, sLast)); err != nil {
		return err
	}
	chart := func(cell, title string, first, last int, counts []count) error {
		if last < first {
			return nil
		}
		maxN := 1
		points := make([]excelize.ChartDataPoint, len(counts))
		for i, c := range counts {
			maxN = max(maxN, c.N)
			points[i] = excelize.ChartDataPoint{Index: i, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{xlColor(c)}}}
		}
		grey := excelize.Font{Color: "404040", Size: 9}
		return f.AddChart(s, cell, &excelize.Chart{
			Type: excelize.Bar,
			Series: []excelize.ChartSeries{{
				Name:       "Partners",
				Categories: fmt.Sprintf("'%s'!$A$%d:$A$%d", s, first, last),
				Values:     fmt.Sprintf("'%s'!$B$%d:$B$%d", s, first, last),
				Fill:       excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"2F5597"}},
				DataPoint:  points,
			}},
			Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title}}},
			Legend:    excelize.ChartLegend{Position: "none"},
			Dimension: excelize.ChartDimension{Width: 560, Height: uint(max(220, 40+22*(last-first+1)))},
			XAxis:     excelize.ChartAxis{ReverseOrder: true, Font: grey}, // categories top-down, in table order
			YAxis: excelize.ChartAxis{Minimum: ptr(0.0), MajorGridLines: true, Font: grey, // bars of 1 must show
				MajorUnit: float64(max(1, (maxN+9)/10))},
			PlotArea: excelize.ChartPlotArea{ShowVal: true},
		})
	}
	if err := x.printSetup(s, true); err != nil {
		return err
	}
	if err := chart("E3", "Partners by verdict", vFirst, vLast, vc); err != nil {
		return err
	}
	return chart(fmt.Sprintf("E%d", max(vLast+4, 18)), "Partners by worst severity", sFirst, sLast, v.bySeverity())
}

// xlColor is the bar colour of a count: its severity's, grey for NotProbed.
func xlColor(c count) string {
	if c.Label == string(audit.NotProbed) {
		return "808080"
	}
	col := sevColor(c.Sev)
	return fmt.Sprintf("%02X%02X%02X", col.r, col.g, col.b)
}

// partnersSheet writes one row per partner, grouped by our MTA's policy
// source and worst delivery first (one pass over the partners per
// deliveryPass), then the partners without a delivery.
func (x *xl) partnersSheet() error {
	cols := []column{
		{"Partner", 28}, {"Domain", 22}, {"Host", 26}, {"Port", 7}, {"TLS mode", 10}, {"Enforced", 10},
		{"Verdict", 18}, {"All verdicts", 30}, {"Worst severity", 14}, {"Leaf subject", 36}, {"Issuer", 36},
		{"Expires", 12}, {"Days left", 10}, {"Root", 36}, {"Root source", 12}, {"Root file", 24},
		{"Findings", 10}, {"TLS version", 11}, {"Error", 40}, {"Contact", 24},
		{"Revocation", 16}, {"Revocation answer until", 14}, {"Addresses", 11}, {"Addresses failing", 11},
	}
	lead := leadColumns(x.v.t.delivery.Groups())
	cols = append(lead, cols...)
	s := sheet{name: SheetPartners, table: "Partners", cols: cols, whole: FilePartnersCSV}
	return x.stream(s, func(row func([]any) error) error {
		var fs []Finding
		var err error
		for _, pass := range deliveryPasses(x.v.t.delivery.Groups()) {
			for r := range x.partners {
				if !pass.has(r.Delivery) {
					continue
				}
				if fs, err = x.v.appendFindings(fs[:0], 0, r); err != nil {
					return err
				}
				if err := row(append(deliveryCells(r, len(lead)), x.partnerCells(r, fs)...)); err != nil {
					return err
				}
			}
		}
		return nil
	}, func(last int) error {
		if err := x.severityCF(SheetPartners, shiftCol(9, len(lead)), last); err != nil {
			return err
		}
		return x.daysCF(SheetPartners, shiftCol(13, len(lead)), last, x.v.th.ExpiryWarningDays)
	})
}

// partnerCells are the cells of partner r's row after the delivery lead; fs are its findings.
func (x *xl) partnerCells(r *audit.Result, fs []Finding) []any {
	subj, iss, na, dl := x.v.leafFacts(r)
	var days any
	if dl != nil {
		days = *dl
	}
	vs := make([]string, len(r.Verdicts))
	for j, vd := range r.Verdicts {
		vs[j] = string(vd)
	}
	rev, until := revocationFacts(r)
	var revUntil any
	if !until.IsZero() {
		revUntil = until
	}
	n, failing := addresses(r)
	return []any{
		r.Name, r.Domain, r.Host, r.Port, string(r.TLS), r.Enforced,
		string(r.Verdict), strings.Join(vs, ", "), string(x.v.worstTold(r, fs)), subj, iss,
		na, days, r.Root.Subject, r.Root.Store, r.Root.File,
		len(fs), r.TLSVersion, r.Error, r.Contact, rev, revUntil, n, failing,
	}
}

// leadColumns is the Partners sheet's lead columns for the policy sources groups; none without one.
func leadColumns(groups []audit.DeliveryGroup) []column {
	if len(groups) == 0 {
		return nil
	}
	cols := []column{{"Delivery", 16}, {"Our policy", 30}, {"Policy source", 30}, {"Why (our MTA's rule)", 60}}
	for _, g := range groups {
		if g.WhatIf != "" {
			return append(cols, column{"Under " + g.WhatIf, 16}, column{"Why, under " + g.WhatIf, 60})
		}
	}
	return cols
}

// deliveryCells are the n lead cells of partner r.
func deliveryCells(r *audit.Result, n int) []any {
	out := make([]any, n)
	d := r.Delivery
	if d == nil || n == 0 {
		return out
	}
	cells := []any{d.Outcome, d.MTA + " " + d.Policy, d.Source, d.Rule, d.WhatIfOutcome, d.WhatIfRule}
	copy(out, cells)
	return out
}

// shiftCol is the name of column n (1-based) after k columns were put before it.
func shiftCol(n, k int) string {
	name, _ := excelize.ColumnNumberToName(n + k)
	return name
}

// findingsSheet writes one row per finding, most severe first, then in
// results order: one pass over the partners per severity level that
// occurs (as WriteFindingsCSVFrom does), holding one partner's findings at a time.
func (x *xl) findingsSheet() error {
	cols := []column{
		{"Partner", 28}, {"Domain", 22}, {"Host", 26}, {"Enforced", 10}, {"Severity", 11},
		{"Origin", 16}, {"Issue", 20}, {"Message", 60}, {"Remedy", 80},
	}
	s := sheet{name: SheetFindings, table: "Findings", cols: cols, whole: FileFindingsCSV}
	return x.stream(s, func(row func([]any) error) error {
		seen := map[int]bool{} // the levels of the severities that occur, -1 for those mxaudit does not know
		for sev, n := range x.v.t.findings {
			if n > 0 {
				seen[max(sev.Level(), -1)] = true
			}
		}
		var fs []Finding
		var err error
		for level := audit.Critical.Level(); level >= -1; level-- {
			if !seen[level] {
				continue
			}
			i := -1
			for r := range x.partners {
				if i++; i < len(x.ex.levels) && x.ex.levels[i]&levelBit(level) == 0 {
					continue // no finding at this level
				}
				if fs, err = x.v.appendFindings(fs[:0], 0, r); err != nil {
					return err
				}
				for _, f := range fs {
					if max(f.Severity.Level(), -1) != level {
						continue
					}
					if err := row([]any{r.Name, r.Domain, r.Host, r.Enforced, string(f.Severity), f.Origin, f.Issue, f.Message, f.Remedy}); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}, func(last int) error { return x.severityCF(SheetFindings, "E", last) })
}

// changes writes one row per change since the previous run; the rows of
// verdict_worse and verdict_recovered changes are coloured red and green.
func (x *xl) changes() error {
	cols := []column{
		{"Partner", 28}, {"Change", 24}, {"Kind", 20}, {"Before", 60}, {"After", 60}, {"Since run", 10}, {"Target", 40},
	}
	return x.stream(sheet{name: SheetChanges, table: "Changes", cols: cols, whole: FileChangesCSV}, func(row func([]any) error) error {
		for _, c := range x.v.res.Changes {
			label, err := x.v.changeLabel(c.Kind)
			if err != nil {
				return err
			}
			if err := row([]any{c.Partner, label, c.Kind, blank(c.Before), blank(c.After), c.SinceRun, blank(c.Target)}); err != nil {
				return err
			}
		}
		return nil
	}, func(last int) error {
		return x.f.SetConditionalFormat(SheetChanges, fmt.Sprintf("A2:G%d", last), []excelize.ConditionalFormatOptions{
			{Type: "formula", Criteria: `$C2="verdict_worse"`, Format: ptr(x.worse), StopIfTrue: true},
			{Type: "formula", Criteria: `$C2="verdict_recovered"`, Format: ptr(x.recovered), StopIfTrue: true},
		})
	})
}

// blank returns s, or nil for an empty cell when s is empty.
func blank(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// certificates writes the CertSheetCap distinct certificates that expire
// soonest (xlExtras.certs), and a note row counting the others.
func (x *xl) certificates() error {
	cols := []column{
		{"Subject", 40}, {"Issuer", 40}, {"Serial", 26}, {"SHA-1 thumbprint", 44}, {"SHA-256", 70},
		{"Not before", 12}, {"Not after", 12}, {"Days left", 10}, {"Key", 12}, {"Signature algorithm", 20},
		{"Partners", 10}, {"Presented by", 60},
	}
	kept := x.ex.certs.sorted()
	s := sheet{name: SheetCertificates, table: "Certificates", cols: cols, whole: FileResultsJSON, note: func() string {
		n, _ := x.ex.certs.more()
		if n == 0 {
			return ""
		}
		return fmt.Sprintf("About %d more distinct certificates, expiring after %s, are left out: this sheet lists the %d that expire soonest; %s holds every chain and %s every target's leaf.",
			n, Day(kept[len(kept)-1].NotAfter), len(kept), FileResultsJSON, FileTargetsCSV)
	}}
	return x.stream(s, func(row func([]any) error) error {
		for _, c := range kept {
			key := c.KeyType
			if c.KeyBits > 0 {
				key = fmt.Sprintf("%s %d", c.KeyType, c.KeyBits)
			}
			if err := row([]any{
				c.Subject, c.Issuer, c.Serial, c.SHA1, c.SHA256, c.NotBefore, c.NotAfter,
				audit.DaysLeft(c.NotAfter, x.v.now), key, c.SigAlg, c.partners(), c.presentedBy(),
			}); err != nil {
				return err
			}
		}
		return nil
	}, func(last int) error { return x.daysCF(SheetCertificates, "H", last, x.v.th.ExpiryWarningDays) })
}

func (x *xl) privateRoots(roots []audit.PrivateRoot) error {
	return x.privateRootsOn(roots, true)
}

func (x *xl) privateRootsOn(roots []audit.PrivateRoot, newSheet bool) error {
	cols := []column{
		{"File", 30}, {"Subject", 40}, {"SHA-1 thumbprint", 44}, {"SHA-256", 70}, {"Not before", 12},
		{"Not after", 12}, {"Days left", 10}, {"Status", 10}, {"Declared by", 30}, {"Used by this run", 30},
		{"Recommended action", 80},
	}
	return x.stream(sheet{name: SheetPrivateRoots, table: "PrivateRoots", cols: cols, existing: !newSheet, whole: FileRootsCSV}, func(row func([]any) error) error {
		for _, r := range sortedRoots(roots) {
			act, err := x.v.rootAction(r)
			if err != nil {
				return err
			}
			if err := row([]any{
				r.File, r.Subject, r.SHA1, r.SHA256, r.NotBefore, r.NotAfter, r.DaysLeft, x.v.rootStatus(r),
				joinCapped(r.DeclaredBy, maxCellText), joinCapped(r.UsedBy, maxCellText), act,
			}); err != nil {
				return err
			}
		}
		return nil
	}, func(last int) error {
		if err := x.daysCF(SheetPrivateRoots, "G", last, x.v.th.RootExpiringDays); err != nil {
			return err
		}
		var opts []excelize.ConditionalFormatOptions
		for _, st := range []string{audit.RootExpired, audit.RootExpiring, audit.RootUnused, audit.RootOK} {
			opts = append(opts, excelize.ConditionalFormatOptions{Type: "cell", Criteria: "==", Value: `"` + st + `"`, Format: ptr(x.statusFill[st])})
		}
		return x.f.SetConditionalFormat(SheetPrivateRoots, fmt.Sprintf("H2:H%d", last), opts)
	})
}

func (x *xl) inventoryErrors() error {
	cols := []column{{"File", 30}, {"Line", 8}, {"Column", 16}, {"Message", 80}}
	return x.stream(sheet{name: SheetInventoryErrors, table: "InventoryErrors", cols: cols, whole: FileResultsJSON}, func(row func([]any) error) error {
		for _, e := range x.v.res.InventoryErrors {
			if err := row([]any{e.File, e.Line, e.Column, e.Message}); err != nil {
				return err
			}
		}
		return nil
	}, nil)
}
