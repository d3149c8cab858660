package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/mxaudit/mxaudit/audit"

	"github.com/xuri/excelize/v2"
)

// dumpScript prints a workbook as JSON through openpyxl: per sheet its
// freeze pane, tables, conditional format ranges, chart count and every
// cell as [value, type, number format].
const dumpScript = `
import json, sys, datetime, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {"sheets": wb.sheetnames, "creator": wb.properties.creator,
       "created": wb.properties.created.isoformat() if wb.properties.created else None, "ws": {}}
for ws in wb.worksheets:
    rows = []
    for row in ws.iter_rows():
        r = []
        for c in row:
            v = c.value
            t = type(v).__name__
            if isinstance(v, (datetime.datetime, datetime.date)):
                v = v.isoformat()
            r.append([v, t, c.number_format if c.is_date else ""])
        rows.append(r)
    out["ws"][ws.title] = {
        "freeze": ws.freeze_panes,
        "tables": {t.name: t.ref for t in ws.tables.values()},
        "autofilter": {t.name: t.autoFilter is not None for t in ws.tables.values()},
        "cf": sorted(str(r.sqref) for r in ws.conditional_formatting),
        "charts": len(ws._charts),
        "rows": rows,
    }
json.dump(out, sys.stdout)
`

type cellDump [3]any // value, python type name, number format for dates

type wbDump struct {
	Sheets  []string `json:"sheets"`
	Creator string   `json:"creator"`
	Created string   `json:"created"`
	WS      map[string]struct {
		Freeze     string            `json:"freeze"`
		Tables     map[string]string `json:"tables"`
		Autofilter map[string]bool   `json:"autofilter"`
		CF         []string          `json:"cf"`
		Charts     int               `json:"charts"`
		Rows       [][]cellDump      `json:"rows"`
	} `json:"ws"`
}

func dumpWorkbook(t *testing.T, xlsx []byte) *wbDump {
	t.Helper()
	py := pythonWithOpenpyxl()
	needTool(t, "python3 with openpyxl", "python3-openpyxl", py != "")
	dir := t.TempDir()
	p, script := filepath.Join(dir, "r.xlsx"), filepath.Join(dir, "dump.py")
	if err := os.WriteFile(p, xlsx, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(dumpScript), 0o644); err != nil {
		t.Fatal(err)
	}
	var d wbDump
	if err := json.Unmarshal([]byte(runCmd(t, py, script, p)), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func renderXLSX(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteXLSX(&b, loadFixture(t), Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestXLSXReadBackWithOpenpyxl(t *testing.T) {
	d := dumpWorkbook(t, renderXLSX(t))
	want := []string{SheetSummary, SheetPartners, SheetTargets, SheetFindings, SheetChanges, SheetCertificates, SheetPolicies, SheetPrivateRoots, SheetInventoryErrors}
	if !reflect.DeepEqual(d.Sheets, want) {
		t.Fatalf("sheets %v, want %v", d.Sheets, want)
	}
	if d.Creator != "mxaudit" || d.Created != "2026-07-01T06:00:00" {
		t.Errorf("doc props creator %q created %q, want mxaudit and the run's start", d.Creator, d.Created)
	}
	headers := map[string][]string{
		SheetPartners:        {"Partner", "Domain", "Host", "Port", "TLS mode", "Enforced", "Verdict", "All verdicts", "Worst severity", "Leaf subject", "Issuer", "Expires", "Days left"},
		SheetFindings:        {"Partner", "Domain", "Host", "Enforced", "Severity", "Origin", "Issue", "Message", "Remedy"},
		SheetChanges:         {"Partner", "Change", "Kind", "Before", "After", "Since run"},
		SheetCertificates:    {"Subject", "Issuer", "Serial", "SHA-1 thumbprint", "SHA-256", "Not before", "Not after", "Days left"},
		SheetPrivateRoots:    {"File", "Subject", "SHA-1 thumbprint", "SHA-256", "Not before", "Not after", "Days left", "Status", "Declared by", "Used by this run", "Recommended action"},
		SheetInventoryErrors: {"File", "Line", "Column", "Message"},
	}
	for sheet, hs := range headers {
		ws := d.WS[sheet]
		for i, h := range hs {
			if got := ws.Rows[0][i][0]; got != h {
				t.Errorf("%s: header %d is %v, want %q", sheet, i+1, got, h)
			}
		}
		if ws.Freeze != "A2" {
			t.Errorf("%s: freeze pane %q, want A2 (header row frozen)", sheet, ws.Freeze)
		}
		if len(ws.Tables) != 1 {
			t.Errorf("%s: tables %v, want one (it carries the autofilter)", sheet, ws.Tables)
		}
		for n, af := range ws.Autofilter {
			if !af {
				t.Errorf("%s: table %s has no autofilter", sheet, n)
			}
		}
	}
	// Conditional formats written through the StreamWriter survive (undocumented in excelize: pinned here).
	for sheet, cf := range map[string][]string{
		SheetPartners:     {"I2:I31", "M2:M31"},
		SheetFindings:     {"E2:E34"},
		SheetChanges:      {"A2:G13"},
		SheetCertificates: {"H2:H24"},
		SheetPrivateRoots: {"G2:G5", "H2:H5"},
		SheetSummary:      {"A54:A57"},
	} {
		if got := d.WS[sheet].CF; !reflect.DeepEqual(got, cf) {
			t.Errorf("%s: conditional formats on %v, want %v", sheet, got, cf)
		}
	}
	// The thresholds the run was graded by are on the Summary sheet.
	facts := map[any]any{}
	for _, r := range d.WS[SheetSummary].Rows {
		if len(r) > 1 {
			facts[r[0][0]] = r[1][0]
		}
	}
	for k, want := range map[string]float64{"Threshold min_rsa_bits": 2048, "Threshold expiry_warning_days": 30, "Threshold root_expiring_days": 90} {
		if facts[k] != want {
			t.Errorf("Summary: %s = %v, want %v", k, facts[k], want)
		}
	}
	if facts[audit.ValidWithFindings] != 1.0 {
		t.Errorf("Summary: %q = %v, want 1 (the Valid partner with a TLS-version warning)", audit.ValidWithFindings, facts[audit.ValidWithFindings])
	}
	if d.WS[SheetSummary].Charts != 2 {
		t.Errorf("Summary has %d charts, want 2", d.WS[SheetSummary].Charts)
	}

	// Cell values and types.
	p := d.WS[SheetPartners].Rows
	row := func(rows [][]cellDump, col int, val any) []cellDump {
		for _, r := range rows {
			if r[col][0] == val {
				return r
			}
		}
		t.Fatalf("no row with %v in column %d", val, col)
		return nil
	}
	sg := row(p, 0, "Société Générale")
	checks := []struct {
		name string
		got  cellDump
		want cellDump
	}{
		{"partner port is a number", sg[3], cellDump{25.0, "int", ""}},
		{"enforced is a boolean", sg[5], cellDump{true, "bool", ""}},
		{"verdict", sg[6], cellDump{"Expired", "str", ""}},
		{"worst severity", sg[8], cellDump{"critical", "str", ""}},
		{"expiry is a date", sg[11], cellDump{"2026-06-28T06:00:00", "datetime", "yyyy-mm-dd"}},
		{"days left against Results.Started", sg[12], cellDump{-3.0, "int", ""}},
	}
	jp := row(p, 0, "株式会社テスト")
	checks = append(checks, struct {
		name string
		got  cellDump
		want cellDump
	}{"CJK name kept", jp[1], cellDump{"kabushiki.example", "str", ""}})
	roots := d.WS[SheetPrivateRoots].Rows
	var status []any
	for _, r := range roots[1:] {
		status = append(status, r[7][0])
	}
	if want := []any{"expired", "expiring", "ok", "unused"}; !reflect.DeepEqual(status, want) {
		t.Errorf("private roots by expiry have status %v, want %v", status, want)
	}
	checks = append(checks, struct {
		name string
		got  cellDump
		want cellDump
	}{"root not after is a date", roots[1][5], cellDump{"2026-06-21T06:00:00", "datetime", "yyyy-mm-dd"}})
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Windows shows thumbprints as 40 upper-case hex digits.
	for _, r := range d.WS[SheetCertificates].Rows[1:] {
		if s, _ := r[3][0].(string); len(s) != 40 || s != upperHex(s) {
			t.Errorf("thumbprint %q is not 40 upper-case hex digits", s)
		}
	}
	// Changes: one row per change in results order, the kind in words and raw, the run as a number.
	ch := d.WS[SheetChanges].Rows
	if len(ch) != 13 {
		t.Errorf("Changes has %d rows, want header + 12", len(ch))
	}
	if d.WS[SheetChanges].Tables["Changes"] != "A1:G13" {
		t.Errorf("Changes tables %v, want Changes on A1:G13", d.WS[SheetChanges].Tables)
	}
	iss := row(ch, 2, "issuer_changed")
	wantIss := []cellDump{
		{"Ελληνική Τράπεζα", "str", ""}, {"Issuer changed", "str", ""}, {"issuer_changed", "str", ""},
		{"CN=Example Public TLS CA 2026,O=Example Trust Services,C=DE", "str", ""},
		{"CN=Untrusted Corp Root,O=Untrusted Corp,C=DE", "str", ""}, {41.0, "int", ""}, {nil, "NoneType", ""},
	}
	if !reflect.DeepEqual(iss, wantIss) {
		t.Errorf("issuer_changed row %v, want %v", iss, wantIss)
	}
	if r := row(ch, 2, "partner_removed"); r[0][0] != "Alte Partner AG" || r[1][0] != "Partner removed" || r[4][0] != nil {
		t.Errorf("partner_removed row %v: want the removed partner, the kind in words and an empty After", r)
	}
	if n := len(d.WS[SheetInventoryErrors].Rows); n != 3 {
		t.Errorf("Inventory Errors has %d rows, want header + 2", n)
	}
}

func upperHex(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			b[i] = '?'
		}
	}
	return string(b)
}

// TestXLSXChangesSheetEmpty keeps the Changes sheet, header only, for a run without changes.
func TestXLSXChangesSheetEmpty(t *testing.T) {
	res := loadFixture(t)
	res.Changes = nil
	f := openXLSX(t, res)
	rows := sheetRows(t, f, SheetChanges)
	if len(rows) != 1 || !reflect.DeepEqual(rows[0], []string{"Partner", "Change", "Kind", "Before", "After", "Since run", "Target"}) {
		t.Errorf("Changes of a run without changes: %q, want the header alone", rows)
	}
	if sheets := f.GetSheetList(); slices.Index(sheets, SheetChanges) != slices.Index(sheets, SheetFindings)+1 {
		t.Errorf("sheets %v: want Changes right after Findings", sheets)
	}
}

// TestXLSXDeterministic renders twice and compares every cell, read back by excelize and by openpyxl.
func TestXLSXDeterministic(t *testing.T) {
	a, b := renderXLSX(t), renderXLSX(t)
	cells := func(x []byte) map[string][][]string {
		f, err := excelize.OpenReader(bytes.NewReader(x))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out := map[string][][]string{}
		for _, s := range f.GetSheetList() {
			rows, err := f.GetRows(s, excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
			out[s] = rows
		}
		return out
	}
	ca, cb := cells(a), cells(b)
	if !reflect.DeepEqual(ca, cb) {
		t.Fatal("two renders of the same results differ in their cells (excelize read-back)")
	}
	if len(ca[SheetPartners]) != 31 {
		t.Errorf("Partners has %d rows, want 31", len(ca[SheetPartners]))
	}
	if py := pythonWithOpenpyxl(); py != "" {
		if !reflect.DeepEqual(dumpWorkbook(t, a), dumpWorkbook(t, b)) {
			t.Fatal("two renders of the same results differ (openpyxl read-back)")
		}
	}
}

// TestXLSXLongCellsCapped keeps a certificate shared by very many partners under Excel's 32,767-character cell limit.
func TestXLSXLongCellsCapped(t *testing.T) {
	res := bigResults(t, 3000)
	rows := sheetRows(t, openXLSX(t, res), SheetCertificates)
	longest := 0
	for _, r := range rows {
		for _, c := range r {
			longest = max(longest, len([]rune(c)))
		}
	}
	if longest > 32767 || longest < 10000 {
		t.Errorf("longest cell has %d characters, want it capped below 32,767 (and the shared intermediate's list long)", longest)
	}
	if !slices.ContainsFunc(rows, func(r []string) bool { return len(r) > 11 && bytes.Contains([]byte(r[11]), []byte("more")) }) {
		t.Error("no capped partner list says how many were left out")
	}
}

// openXLSX renders res as a workbook and opens it with excelize.
func openXLSX(t *testing.T, res *audit.Results) *excelize.File {
	t.Helper()
	var b bytes.Buffer
	if err := WriteXLSX(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// sheetRows reads one sheet of f.
func sheetRows(t *testing.T, f *excelize.File, sheet string) [][]string {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
