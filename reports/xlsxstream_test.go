package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mxaudit/mxaudit/audit"
)

// xlsxCells renders a workbook with write and reads every cell of every sheet back with excelize.
func xlsxCells(t *testing.T, write func(io.Writer) error) (sheets []string, cells map[string][][]string) {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cells = map[string][][]string{}
	for _, s := range f.GetSheetList() {
		if cells[s], err = f.GetRows(s, excelize.Options{RawCellValue: true}); err != nil {
			t.Fatal(err)
		}
	}
	return f.GetSheetList(), cells
}

// TestXLSXFromPartners: the workbook written from an iterator of decoded
// partners (as a spill file gives them) holds the very cells of the
// workbook written from the results held whole, without reading
// res.Partners, in a bounded number of passes.
func TestXLSXFromPartners(t *testing.T) {
	fixtures := []struct {
		name string
		res  func(t *testing.T) *audit.Results
	}{
		{"results", func(t *testing.T) *audit.Results { return loadFixture(t) }},
		{"deliveries", withDeliveries},
		{"targets", func(t *testing.T) *audit.Results { return readResults(t, "results-targets.json") }},
		{"policies", func(t *testing.T) *audit.Results { return readResults(t, "results-policies.json") }},
		{"no partners", func(t *testing.T) *audit.Results {
			r := loadFixture(t)
			r.Partners = []audit.Result{}
			return r
		}},
	}
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			res := fx.res(t)
			opts := Options{NoFontSearch: true}
			wantSheets, want := xlsxCells(t, func(w io.Writer) error { return WriteXLSX(w, res, opts) })
			passes := 0
			seq := decoded(t, res, &passes)
			head := *res
			head.Partners = nil
			gotSheets, got := xlsxCells(t, func(w io.Writer) error { return WriteXLSXFrom(w, &head, seq, opts) })
			if !slices.Equal(gotSheets, wantSheets) {
				t.Fatalf("sheets %v, want %v", gotSheets, wantSheets)
			}
			for _, s := range wantSheets {
				if !reflect.DeepEqual(got[s], want[s]) {
					t.Errorf("%s: from an iterator\n%q\nwant\n%q", s, got[s], want[s])
				}
			}
			// One tally, the delivery passes of the Partners sheet, Targets,
			// one per severity that occurs (at most 5), Policies.
			groups := audit.DeliveryGroups(res.Partners)
			if limit := 1 + len(deliveryPasses(groups)) + 1 + 5 + 1; passes < 4 || passes > limit {
				t.Errorf("ranged over the partners %d times, want 4 to %d", passes, limit)
			}
		})
	}
}

func readResults(t testing.TB, name string) *audit.Results {
	t.Helper()
	res, err := audit.ReadResults(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// setVar sets *p to v for the test.
func setVar[T any](t *testing.T, p *T, v T) {
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

// TestXLSXRowLimit: a sheet over Excel's row limit (lowered here) stops
// below it with a note saying how many rows are left out and which file
// holds every one; the table and conditional formats end at the last row written.
func TestXLSXRowLimit(t *testing.T) {
	setVar(t, &MaxSheetRows, 8) // header, 5 rows, room for two notes
	res := bigResults(t, 40)
	var all bytes.Buffer
	nFindings := 0
	if err := WriteFindingsCSV(&all, res, Options{}); err != nil {
		t.Fatal(err)
	}
	nFindings = strings.Count(all.String(), "\n") - 1 // no finding here spans lines
	tres := readResults(t, "results-targets.json")
	nTargets := 0
	for _, r := range tres.Partners {
		nTargets += len(r.Targets)
	}
	cases := []struct {
		name, sheet, table, lastCol, whole string
		res                                *audit.Results
		rows                               int
	}{
		{"partners", SheetPartners, "Partners", "X", FilePartnersCSV, res, 40},
		{"findings", SheetFindings, "Findings", "I", FileFindingsCSV, res, nFindings},
		{"targets", SheetTargets, "Targets", "T", FileTargetsCSV, tres, nTargets},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.rows <= 6 {
				t.Fatalf("only %d rows: the case does not reach the limit", c.rows)
			}
			var b bytes.Buffer
			if err := WriteXLSX(&b, c.res, Options{NoFontSearch: true}); err != nil {
				t.Fatal(err)
			}
			ws := dumpWorkbook(t, b.Bytes()).WS[c.sheet]
			if len(ws.Rows) != 7 {
				t.Fatalf("%d rows, want header, 5 rows and the note", len(ws.Rows))
			}
			want := fmt.Sprintf("%d more rows are left out: a sheet holds 8 rows at most; %s holds every row.", c.rows-5, c.whole)
			if got := ws.Rows[6][0][0]; got != want {
				t.Errorf("note %q, want %q", got, want)
			}
			if got := ws.Tables[c.table]; got != "A1:"+c.lastCol+"6" {
				t.Errorf("table on %s, want A1:%s6", got, c.lastCol)
			}
			for _, cf := range ws.CF {
				if !strings.HasSuffix(cf, "6") {
					t.Errorf("conditional format on %s, want it to end at row 6", cf)
				}
			}
		})
	}
}

// TestXLSXCertificatesCapped: the Certificates sheet lists the
// CertSheetCap certificates that expire soonest, the same rows as the
// uncapped sheet starts with, and a note counts the others and names
// where every one is.
func TestXLSXCertificatesCapped(t *testing.T) {
	res := loadFixture(t)
	_, full := xlsxCells(t, func(w io.Writer) error { return WriteXLSX(w, res, Options{NoFontSearch: true}) })
	all := full[SheetCertificates][1:]
	setVar(t, &CertSheetCap, 5)
	_, capped := xlsxCells(t, func(w io.Writer) error { return WriteXLSX(w, res, Options{NoFontSearch: true}) })
	rows := capped[SheetCertificates]
	if len(rows) != 1+5+1 {
		t.Fatalf("%d rows, want header, 5 certificates and the note", len(rows))
	}
	if !reflect.DeepEqual(rows[1:6], all[:5]) {
		t.Errorf("capped rows\n%q\nwant the 5 soonest of the full sheet\n%q", rows[1:6], all[:5])
	}
	want := fmt.Sprintf("About %d more distinct certificates, expiring after %s, are left out: this sheet lists the 5 that expire soonest; results.json holds every chain and targets.csv every target's leaf.",
		len(all)-5, day(t, all[4][6]))
	if rows[6][0] != want {
		t.Errorf("note %q, want %q", rows[6][0], want)
	}
}

// day turns an Excel serial date (as excelize reads it raw) into YYYY-MM-DD.
func day(t *testing.T, serial string) string {
	f, err := strconv.ParseFloat(serial, 64)
	if err != nil {
		t.Fatalf("not an Excel date: %q", serial)
	}
	d, err := excelize.ExcelDateToTime(f, false)
	if err != nil {
		t.Fatal(err)
	}
	return d.Format("2006-01-02")
}

func TestHLLEstimate(t *testing.T) {
	for _, n := range []int{0, 1, 23, 1000, 50000, 1000000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var c hll
			for i := range n {
				c.add(fmt.Sprintf("%064x", i*7919))
				c.add(fmt.Sprintf("%064x", i*7919)) // counted once
			}
			got := c.estimate()
			if math.Abs(float64(got-n)) > 0.025*float64(n)+0.5 {
				t.Errorf("estimate %d of %d distinct", got, n)
			}
		})
	}
}

// TestXLSXVantagePoints: with Options.Vantages the workbook has a Vantage
// Points sheet after Policies: one row per target seen differently, a
// verdict column per vantage point, the note, coloured rows, a table, the
// print set-up of the other sheets, and a note counting the targets seen alike.
func TestXLSXVantagePoints(t *testing.T) {
	base := loadFixture(t)
	east := *base
	east.Partners = slices.Clone(base.Partners)
	east.Partners[0].Verdict = audit.HandshakeFailed // fails from us-east only
	east.Partners[0].Verdicts = []audit.Verdict{audit.HandshakeFailed}
	names := []string{"", "us-east"}
	rows := CompareVantages(names, []*audit.Results{base, &east})
	diff := Differing(rows)
	if len(diff) != 1 {
		t.Fatalf("%d rows differ, want 1", len(diff))
	}
	vs := &Vantages{Names: names, Rows: diff, Same: len(rows) - len(diff)}
	var b bytes.Buffer
	if err := WriteXLSX(&b, base, Options{NoFontSearch: true, Vantages: vs}); err != nil {
		t.Fatal(err)
	}
	d := dumpWorkbook(t, b.Bytes())
	want := []string{SheetSummary, SheetPartners, SheetTargets, SheetFindings, SheetChanges, SheetCertificates, SheetPolicies, SheetVantages, SheetPrivateRoots, SheetInventoryErrors}
	if !slices.Equal(d.Sheets, want) {
		t.Fatalf("sheets %v, want %v", d.Sheets, want)
	}
	ws := d.WS[SheetVantages]
	var got [][]any
	for _, r := range ws.Rows {
		var vals []any
		for _, c := range r {
			vals = append(vals, c[0])
		}
		got = append(got, vals)
	}
	p := base.Partners[0]
	wantRows := [][]any{
		{"Partner", "Domain", "Host", "Port", "Address", "From default", "From us-east", "Note"},
		{p.Name, p.Domain, p.Host, float64(p.Port), diff[0].Address, string(p.Verdict), string(audit.HandshakeFailed), "fails from us-east only"},
		{fmt.Sprintf("%d more targets every vantage point saw alike are not listed (vantages.csv lists every target).", vs.Same), nil, nil, nil, nil, nil, nil, nil},
	}
	if diff[0].Address == "" {
		wantRows[1][4] = nil
	}
	if !reflect.DeepEqual(got, wantRows) {
		t.Errorf("Vantage Points rows\n%v\nwant\n%v", got, wantRows)
	}
	if ws.Freeze != "A2" || ws.Tables["VantagePoints"] != "A1:H2" || !slices.Equal(ws.CF, []string{"A2:H2"}) {
		t.Errorf("freeze %q, tables %v, conditional formats %v: want A2, VantagePoints on A1:H2, A2:H2", ws.Freeze, ws.Tables, ws.CF)
	}
	facts := map[any]any{}
	for _, r := range d.WS[SheetSummary].Rows {
		if len(r) > 1 {
			facts[r[0][0]] = r[1][0]
		}
	}
	if facts["Vantage points"] != "default, us-east" || facts["Targets seen differently"] != 1.0 || facts["Targets seen alike"] != float64(vs.Same) {
		t.Errorf("Summary vantage facts %v, %v, %v", facts["Vantage points"], facts["Targets seen differently"], facts["Targets seen alike"])
	}
	pr := dumpPrint(t, b.Bytes())[SheetVantages]
	if pr.Orientation != "landscape" || pr.Paper != "9" || pr.FitWidth != "1" || str(pr.TitleRows) != "$1:$1" || str(pr.Center) != "Page &P of &N" {
		t.Errorf("Vantage Points print set-up %+v: want landscape A4, one page wide, header row repeated, the footer", pr)
	}
}

// synthPartners gives n partners made from base's, each under a new name
// with a leaf certificate of its own (a new SHA-256 and expiry), built
// afresh for every partner as a spill file read back gives them.
func synthPartners(base []audit.Result, n int) iter.Seq[*audit.Result] {
	leaf := func(chain []audit.Cert, i int) []audit.Cert {
		if len(chain) == 0 {
			return nil
		}
		c := slices.Clone(chain)
		c[0].SHA256 = fmt.Sprintf("%064x", i)
		c[0].SHA1 = fmt.Sprintf("%040X", i)
		c[0].Serial = strconv.Itoa(i)
		c[0].NotAfter = c[0].NotAfter.Add(time.Duration(i%7000) * time.Hour)
		return c
	}
	return func(yield func(*audit.Result) bool) {
		for i := range n {
			r := base[i%len(base)]
			r.Name = fmt.Sprintf("%s #%07d", r.Name, i)
			r.Domain = fmt.Sprintf("d%07d.%s", i, r.Domain)
			r.Chain = leaf(r.Chain, i)
			r.Targets = slices.Clone(r.Targets)
			for k := range r.Targets {
				r.Targets[k].Chain = leaf(r.Targets[k].Chain, i)
			}
			if !yield(&r) {
				return
			}
		}
	}
}

// xlsxCountScript reads a workbook with openpyxl in read-only mode and
// prints the sheets, the rows of the Certificates sheet and the first cell
// of its last row, and the rows of the Partners sheet counted in its XML
// (openpyxl takes a minute to read 200,000 rows of 30 cells).
const xlsxCountScript = `
import json, re, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1], read_only=True)
out = {"sheets": wb.sheetnames, "rows": {}, "cert_note": None}
ws = wb["Certificates"]
ws.reset_dimensions()  # a streamed sheet's <dimension> says A1: its row count is not known when it is written
rows = list(ws.iter_rows(values_only=True))
out["rows"]["Certificates"] = len(rows)
out["cert_note"] = rows[-1][0]
n, tail = 0, b""
with wb._archive.open(wb["Partners"]._worksheet_path) as f:
    while chunk := f.read(1 << 20):
        n += len(re.findall(rb"<row[ >]", tail + chunk))
        tail = chunk[-4:]
out["rows"]["Partners"] = n
json.dump(out, sys.stdout)
`

// TestXLSXFromBounded writes the workbook of 20,000 and of 200,000
// synthetic partners (each with a certificate of its own) from a
// generator: the peak heap must not grow with the partners (a tenfold
// run may take at most 1.5 times the heap), and openpyxl reads the large
// workbook back: every partner's row, the certificates capped with the note.
func TestXLSXFromBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a workbook of 200,000 partners")
	}
	base := loadFixture(t)
	head := *base
	head.Partners = nil
	dir := t.TempDir()
	peaks := map[int]uint64{}
	for _, n := range []int{20000, 200000} {
		p := filepath.Join(dir, fmt.Sprintf("%d.xlsx", n))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		peaks[n] = peakHeap(func() {
			if err := WriteXLSXFrom(f, &head, synthPartners(base.Partners, n), Options{NoFontSearch: true}); err != nil {
				t.Fatal(err)
			}
		})
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		t.Logf("%d partners: peak heap %.1f MiB, %s, %.1f MiB written", n, float64(peaks[n])/(1<<20), time.Since(start).Round(time.Millisecond), float64(st.Size())/(1<<20))
	}
	if peaks[200000] > peaks[20000]*3/2 {
		t.Errorf("peak heap %d bytes for 200,000 partners, %d for 20,000: it grows with the partners", peaks[200000], peaks[20000])
	}

	py := pythonWithOpenpyxl()
	needTool(t, "python3 with openpyxl", "python3-openpyxl", py != "")
	script := filepath.Join(dir, "count.py")
	if err := os.WriteFile(script, []byte(xlsxCountScript), 0o644); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sheets   []string       `json:"sheets"`
		Rows     map[string]int `json:"rows"`
		CertNote string         `json:"cert_note"`
	}
	if err := json.Unmarshal([]byte(runCmd(t, py, script, filepath.Join(dir, "200000.xlsx"))), &got); err != nil {
		t.Fatal(err)
	}
	want := []string{SheetSummary, SheetPartners, SheetTargets, SheetFindings, SheetChanges, SheetCertificates, SheetPolicies, SheetPrivateRoots, SheetInventoryErrors}
	if !slices.Equal(got.Sheets, want) {
		t.Errorf("sheets %v, want %v", got.Sheets, want)
	}
	if got.Rows[SheetPartners] != 200001 {
		t.Errorf("Partners has %d rows, want 200,001", got.Rows[SheetPartners])
	}
	if got.Rows[SheetCertificates] != CertSheetCap+2 {
		t.Errorf("Certificates has %d rows, want the header, %d certificates and the note", got.Rows[SheetCertificates], CertSheetCap)
	}
	seen := map[string]bool{} // the exact count, which the workbook only estimates
	for r := range synthPartners(base.Partners, 200000) {
		for _, c := range servedCerts(r) {
			seen[certKey(&c)] = true
		}
	}
	m := regexp.MustCompile(`^About (\d+) more distinct certificates`).FindStringSubmatch(got.CertNote)
	if m == nil {
		t.Fatalf("Certificates note %q", got.CertNote)
	}
	more, _ := strconv.Atoi(m[1])
	if exact := len(seen) - CertSheetCap; math.Abs(float64(more-exact)) > 0.03*float64(exact) {
		t.Errorf("note counts %d more certificates, want about %d", more, exact)
	}
}

// BenchmarkXLSX10kPeak renders the workbook of 10,000 partners (held, as
// BenchmarkXLSX10k) and reports the peak heap above the results held.
func BenchmarkXLSX10kPeak(b *testing.B) {
	res := bigResults(b, 10000)
	b.ReportAllocs()
	var peak uint64
	for b.Loop() {
		peak = max(peak, peakHeap(func() {
			if err := WriteXLSX(io.Discard, res, Options{NoFontSearch: true}); err != nil {
				b.Fatal(err)
			}
		}))
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// TestCertHeap: the heap keeps the soonest-expiring distinct certificates
// with every partner presenting them, within the names budget, and lets
// the names of a certificate it drops go.
func TestCertHeap(t *testing.T) {
	setVar(t, &certNamesBudget, 40)
	day0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	cert := func(i int) audit.Cert {
		return audit.Cert{SHA256: fmt.Sprintf("%064x", i), NotAfter: day0.AddDate(0, 0, i)}
	}
	h := newCertHeap(2)
	h.add(cert(5), "partner-a") // dropped later: its 9 bytes of names go with it
	h.add(cert(3), "partner-b")
	h.add(cert(3), "partner-b") // the same partner again: counted once
	h.add(cert(3), "partner-c")
	h.add(cert(1), "partner-d")          // drops cert 5
	h.add(cert(9), "partner-e")          // expires too late
	h.add(cert(1), "partner-h")          // 36 bytes: within the budget only since cert 5's names went
	h.add(cert(3), "partner-ffffffffff") // over the budget of 40 bytes: counted, not named
	h.add(cert(3), "partner-g")          // and every later one
	kept := h.sorted()
	type row struct {
		day      int
		n        int
		presents string
	}
	var got []row
	for _, e := range kept {
		got = append(got, row{int(e.NotAfter.Sub(day0).Hours() / 24), e.partners(), e.presentedBy()})
	}
	want := []row{
		{1, 2, "partner-d; partner-h"},
		{3, 4, "partner-b; partner-c … and 2 more"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kept %+v, want %+v", got, want)
	}
	if h.nameBytes != 4*9 {
		t.Errorf("names take %d bytes, want 36 (the dropped certificate's names let go)", h.nameBytes)
	}
	if n, est := h.more(); n != 2 || !est {
		t.Errorf("more() = %d, %v, want 2 certificates left out (5 and 9), estimated", n, est)
	}
}
