package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// golden compares got with testdata/golden/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test ./reports -update after checking the diff)\ngot:\n%s", name, got)
	}
}

func TestGoldenOutputs(t *testing.T) {
	res := loadFixture(t)
	opts := Options{NoFontSearch: true}
	tests := []struct {
		name   string
		header []string
		rows   int
		write  func(io.Writer) error
	}{
		{"partners.csv", PartnersCSVHeader, len(res.Partners), func(w io.Writer) error { return WritePartnersCSV(w, res, opts) }},
		{"findings.csv", FindingsCSVHeader, 33, func(w io.Writer) error { return WriteFindingsCSV(w, res, opts) }},
		{"changes.csv", ChangesCSVHeader, len(res.Changes), func(w io.Writer) error { return WriteChangesCSV(w, res, opts) }},
		{"private-roots.csv", RootsCSVHeader, len(res.PrivateRoots), func(w io.Writer) error { return WriteRootsCSV(w, res.PrivateRoots, res.RunThresholds(), opts) }},
		{"private-roots.json", nil, 0, func(w io.Writer) error {
			return WriteRootsJSON(w, RootsLifecycle{Now: res.Started, Dir: "roots", Roots: res.PrivateRoots,
				Errors: []LoadError{{File: "broken.p7b", Message: "pkcs7: truncated"}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.write(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, b.Bytes())
			if tt.header == nil {
				return
			}
			recs, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.rows+1 {
				t.Errorf("%d records, want header + %d", len(recs), tt.rows)
			}
			for i, h := range tt.header {
				if recs[0][i] != h {
					t.Errorf("header %d is %q, want %q", i, recs[0][i], h)
				}
			}
		})
	}
}

func TestWriteAllAtomicAndPerPartner(t *testing.T) {
	res := loadFixture(t)
	res.Partners = res.Partners[:6] // keep it quick: per-partner PDFs cost a font load each
	dir := t.TempDir()
	files, err := WriteAll(context.Background(), dir, res, []Format{CSV, JSON}, true, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{FilePartnersCSV, FileTargetsCSV, FileFindingsCSV, FileRootsCSV, FileChangesCSV, "partners/Müller-GmbH.pdf", "partners/Société-Générale.pdf",
		"partners/Ελληνική-Τράπεζα.pdf", "partners/Сбербанк.pdf", "partners/株式会社テスト.pdf", "partners/Partner-00-DNSError-Ltd.pdf"}
	if len(files) != len(want) {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	for i, w := range want {
		if files[i] != filepath.Join(dir, w) {
			t.Errorf("file %d is %s, want %s", i, files[i], w)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name()[0] == '.' {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, FileResultsJSON)); err == nil {
		t.Error("WriteAll wrote results.json; the caller owns it")
	}
	// A later run without changes into the same folder leaves no stale changes.csv behind.
	res.Changes = nil
	files, err = WriteAll(context.Background(), dir, res, []Format{CSV}, false, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Errorf("wrote %v, want the four csv files without changes.csv", files)
	}
	if _, err := os.Stat(filepath.Join(dir, FileChangesCSV)); err == nil {
		t.Error("changes.csv of the earlier run is still there")
	}
}

// TestChangeKindsWorded: every kind of audit.ChangeKinds (the one list
// history detects and the reports group by) has its wording; the expiry
// one names the run's thresholds.
func TestChangeKindsWorded(t *testing.T) {
	v, err := newView(&audit.Results{}, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, k := range audit.ChangeKinds {
		if !v.tpl.Has("change-" + k + ".tmpl") {
			t.Errorf("kind %s has no change-%s.tmpl", k, k)
		}
		label, err := v.changeLabel(k)
		if err != nil || label == k || seen[label] != "" {
			t.Errorf("kind %s: label %q, %v (want words of its own)", k, label, err)
		}
		seen[label] = k
	}
	th := audit.Thresholds{MinRSABits: 2048, MinECBits: 256, ExpiryWarningDays: 45, ExpiryErrorDays: 10, RootExpiringDays: 90}
	v.th = th
	v.res.Changes = []audit.Change{{Partner: "x", Kind: audit.ChangeExpiryThreshold}}
	if groups, err := v.changeGroups(); err != nil || len(groups) != 1 || !strings.Contains(groups[0].meaning, "within 45 or 10 days") {
		t.Errorf("expiry_threshold under 45/10 days: %+v, %v", groups, err)
	}
	// A kind from a newer mxaudit keeps its raw name and a generic sentence, never an error.
	v.res.Changes = []audit.Change{{Partner: "x", Kind: "dane_changed"}}
	groups, err := v.changeGroups()
	if err != nil || len(groups) != 1 || groups[0].label != "dane_changed" || !strings.Contains(groups[0].meaning, "dane_changed") {
		t.Errorf("unknown kind: %+v, %v", groups, err)
	}
}

func TestPartnerFileNames(t *testing.T) {
	res := &audit.Results{Partners: []audit.Result{
		{Partner: audit.Partner{Name: "A/B Ltd"}}, {Partner: audit.Partner{Name: "a b ltd"}}, {Partner: audit.Partner{Name: "A.B Ltd"}},
		{Partner: audit.Partner{Name: "../.."}}, {Partner: audit.Partner{Name: "A B Ltd"}},
	}}
	got := PartnerFileNames(res)
	want := []string{"A-B-Ltd.pdf", "a-b-ltd-2.pdf", "A.B-Ltd.pdf", "partner.pdf", "A-B-Ltd-3.pdf"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("name %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestParseFormats(t *testing.T) {
	tests := []struct {
		in      string
		want    []Format
		wantErr bool
	}{
		{"all", AllFormats, false},
		{"xlsx, PDF,xlsx", []Format{XLSX, PDF}, false},
		{"json", []Format{JSON}, false},
		{"docx", nil, true},
		{"", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseFormats(tt.in)
		if (err != nil) != tt.wantErr || len(got) != len(tt.want) {
			t.Errorf("ParseFormats(%q) = %v, %v", tt.in, got, err)
		}
	}
}
