package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// printScript prints, per sheet, the print settings openpyxl reads back:
// orientation, paper, fit to width/height, whether fit-to-page is on, the
// repeated title rows and the three parts of the odd-page footer.
const printScript = `
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
out = {}
for ws in wb.worksheets:
    ps, f = ws.page_setup, ws.oddFooter
    pr = ws.sheet_properties.pageSetUpPr
    out[ws.title] = {
        "orientation": ps.orientation, "paper": str(ps.paperSize),
        "fit_width": str(ps.fitToWidth), "fit_height": str(ps.fitToHeight),
        "fit_to_page": bool(pr is not None and pr.fitToPage),
        "title_rows": ws.print_title_rows,
        "left": f.left.text, "center": f.center.text, "right": f.right.text,
        "margin_left": ws.page_margins.left,
    }
json.dump(out, sys.stdout)
`

type printDump struct {
	Orientation string  `json:"orientation"`
	Paper       string  `json:"paper"`
	FitWidth    string  `json:"fit_width"`
	FitHeight   string  `json:"fit_height"`
	FitToPage   bool    `json:"fit_to_page"`
	TitleRows   *string `json:"title_rows"`
	Left        *string `json:"left"`
	Center      *string `json:"center"`
	Right       *string `json:"right"`
	MarginLeft  float64 `json:"margin_left"`
}

// dumpPrint reads the print settings of every sheet of xlsx back with openpyxl.
func dumpPrint(t *testing.T, xlsx []byte) map[string]printDump {
	t.Helper()
	py := pythonWithOpenpyxl()
	needTool(t, "python3 with openpyxl", "python3-openpyxl", py != "")
	dir := t.TempDir()
	p, script := filepath.Join(dir, "r.xlsx"), filepath.Join(dir, "print.py")
	if err := os.WriteFile(p, xlsx, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(printScript), 0o644); err != nil {
		t.Fatal(err)
	}
	var d map[string]printDump
	if err := json.Unmarshal([]byte(runCmd(t, py, script, p)), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func str(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}

// TestXLSXPrintSettings prints every sheet as an auditor expects: landscape
// A4, one page wide (Summary on one page), the header row on every page and
// a footer with the report, the page number and the run's start.
func TestXLSXPrintSettings(t *testing.T) {
	var roots bytes.Buffer
	rl := RootsLifecycle{Now: time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC), Roots: loadFixture(t).PrivateRoots,
		Errors: []LoadError{{File: "broken.cer", Message: "not a certificate"}}}
	if err := WriteRootsXLSX(&roots, rl, Options{NoFontSearch: true, Org: "Contoso & Partner"}); err != nil {
		t.Fatal(err)
	}
	for _, wb := range []struct {
		name   string
		xlsx   []byte
		sheets []string
		org    string
	}{
		{"audit workbook", renderXLSX(t), []string{SheetSummary, SheetPartners, SheetTargets, SheetFindings, SheetChanges, SheetCertificates, SheetPolicies, SheetPrivateRoots, SheetInventoryErrors}, ""},
		{"private roots workbook", roots.Bytes(), []string{SheetPrivateRoots, "Load Errors"}, "Contoso & Partner"},
	} {
		t.Run(wb.name, func(t *testing.T) {
			d := dumpPrint(t, wb.xlsx)
			if len(d) != len(wb.sheets) {
				t.Errorf("sheets %v, want %v", keys(d), wb.sheets)
			}
			for _, s := range wb.sheets {
				p, ok := d[s]
				if !ok {
					t.Errorf("%s: sheet missing", s)
					continue
				}
				fitH := "0" // as many pages tall as needed
				if s == SheetSummary {
					fitH = "1"
				}
				for _, c := range []struct{ what, got, want string }{
					{"orientation", p.Orientation, "landscape"},
					{"paper size", p.Paper, "9"},
					{"fit to width", p.FitWidth, "1"},
					{"fit to height", p.FitHeight, fitH},
					{"print title rows", str(p.TitleRows), "$1:$1"},
					{"footer centre", str(p.Center), "Page &P of &N"},
					{"footer right", str(p.Right), "Run 2026-07-01 06:00 UTC"},
				} {
					if c.got != c.want {
						t.Errorf("%s: %s is %q, want %q", s, c.what, c.got, c.want)
					}
				}
				if !p.FitToPage {
					t.Errorf("%s: fitToPage is off, so Excel ignores fit to width", s)
				}
				if p.MarginLeft != printMargin {
					t.Errorf("%s: left margin %v, want %v", s, p.MarginLeft, printMargin)
				}
				left := str(p.Left)
				if !strings.Contains(left, "confidential") || wb.org != "" && !strings.Contains(left, strings.ReplaceAll(wb.org, "&", "&&")) {
					t.Errorf("%s: footer left %q: want the report footer (with the organisation %q, & escaped)", s, left, wb.org)
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestPrintFooter keeps the footer within Excel's 255 characters and its
// ampersands escaped, whatever the organisation is called.
func TestPrintFooter(t *testing.T) {
	now := time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, org, wantLeft string
		cut                 bool
	}{
		{"plain", "Contoso Ltd", "Contoso Ltd · ", false},
		{"ampersand escaped", "Smith & Sons", "Smith && Sons · ", false},
		{"long name cut", strings.Repeat("Müller ", 60), "Müller Müller", true},
		{"long name of ampersands cut between pairs", strings.Repeat("&", 300), "&&&&", true},
		{"astral characters count twice", strings.Repeat("𝔐", 200), "𝔐𝔐", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := newView(&audit.Results{Started: now}, Options{Org: tc.org, NoFontSearch: true})
			if err != nil {
				t.Fatal(err)
			}
			f, err := printFooter(v)
			if err != nil {
				t.Fatal(err)
			}
			if n := utf16Len(f); n > maxFooterText {
				t.Errorf("footer has %d UTF-16 units, Excel allows %d", n, maxFooterText)
			}
			left, rest, ok := strings.Cut(strings.TrimPrefix(f, "&L"), "&CPage &P of &N")
			if !ok || rest != "&RRun 2026-07-01 06:00 UTC" {
				t.Fatalf("footer %q: want &L<text>&CPage &P of &N&RRun 2026-07-01 06:00 UTC", f)
			}
			if !strings.HasPrefix(left, tc.wantLeft) {
				t.Errorf("footer left %q, want it to start with %q", left, tc.wantLeft)
			}
			if strings.HasSuffix(left, "…") != tc.cut {
				t.Errorf("footer left %q: cut is %v, want %v", left, !tc.cut, tc.cut)
			}
			amps := len(left) - len(strings.ReplaceAll(left, "&", ""))
			if amps%2 != 0 {
				t.Errorf("footer left %q has an odd number of &: a half-escaped & would start a footer code", left)
			}
		})
	}
}
