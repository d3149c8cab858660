package reports

import (
	"bytes"
	"encoding/json"
	"io"
	"iter"
	"path/filepath"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// decoded gives each partner of res as a fresh copy decoded from JSON, as
// a spill file read back does, and counts how many times it is ranged over.
func decoded(t *testing.T, res *audit.Results, passes *int) iter.Seq[*audit.Result] {
	t.Helper()
	encoded := make([][]byte, len(res.Partners))
	for i := range res.Partners {
		b, err := json.Marshal(&res.Partners[i])
		if err != nil {
			t.Fatal(err)
		}
		encoded[i] = b
	}
	return func(yield func(*audit.Result) bool) {
		*passes++
		for _, b := range encoded {
			var r audit.Result
			if err := json.Unmarshal(b, &r); err != nil {
				t.Error(err)
				return
			}
			if !yield(&r) {
				return
			}
		}
	}
}

// TestCSVFromPartners: partners.csv, targets.csv and findings.csv written
// row by row from an iterator are byte for byte those written from the
// results held whole, and the writers do not read res.Partners.
func TestCSVFromPartners(t *testing.T) {
	type writer func(io.Writer, *audit.Results, Options) error
	type from func(io.Writer, *audit.Results, iter.Seq[*audit.Result], Options) error
	csvs := []struct {
		name      string
		held      writer
		from      from
		maxPasses int
	}{
		{"partners.csv", WritePartnersCSV, WritePartnersCSVFrom, 1},
		{"targets.csv", WriteTargetsCSV, WriteTargetsCSVFrom, 1},
		{"findings.csv", WriteFindingsCSV, WriteFindingsCSVFrom, 5}, // once per severity level seen
	}
	fixtures := []struct {
		name string
		file string
		edit func(*audit.Results)
	}{
		{name: "results", file: "results.json"},
		{name: "targets", file: "results-targets.json"},
		{name: "policies", file: "results-policies.json"},
		{name: "unknown severity", file: "results.json", edit: func(r *audit.Results) {
			r.Partners[len(r.Partners)-1].Findings = append(r.Partners[len(r.Partners)-1].Findings,
				audit.Finding{Check: "custom", Severity: "odd", Message: "a severity mxaudit does not know"})
		}},
		{name: "no partners", file: "results.json", edit: func(r *audit.Results) { r.Partners = []audit.Result{} }},
	}
	for _, fx := range fixtures {
		res, err := audit.ReadResults(filepath.Join("testdata", fx.file))
		if err != nil {
			t.Fatal(err)
		}
		if fx.edit != nil {
			fx.edit(res)
		}
		for _, c := range csvs {
			t.Run(fx.name+"/"+c.name, func(t *testing.T) {
				opts := Options{NoFontSearch: true}
				var want, got bytes.Buffer
				if err := c.held(&want, res, opts); err != nil {
					t.Fatal(err)
				}
				passes := 0
				seq := decoded(t, res, &passes)
				head := *res
				head.Partners = nil
				if err := c.from(&got, &head, seq, opts); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(want.Bytes(), got.Bytes()) {
					t.Errorf("from an iterator (%d bytes) differs from held (%d bytes):\n%s\n---\n%s", got.Len(), want.Len(), got.String(), want.String())
				}
				if passes < 1 || passes > c.maxPasses {
					t.Errorf("ranged over the partners %d times, want 1 to %d", passes, c.maxPasses)
				}
			})
		}
	}
}
