package reports

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// overCap returns the fixture's results with exactly n partners with a
// problem: the fixture's first ones, then its first repeated under new names.
func overCap(t *testing.T, n int) *audit.Results {
	t.Helper()
	res, err := audit.ReadResults(filepath.Join("testdata", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []audit.Result
	var proto *audit.Result
	have := 0
	for _, r := range res.Partners {
		if failing(&r) {
			if proto == nil {
				proto = &r
			}
			if have == n {
				continue
			}
			have++
		}
		kept = append(kept, r)
	}
	if proto == nil {
		t.Fatal("the fixture has no partner with a problem")
	}
	res.Partners = kept
	for k := 0; have < n; k++ {
		r := *proto
		r.Name = fmt.Sprintf("Extra partner %04d", k)
		res.Partners = append(res.Partners, r)
		have++
	}
	return res
}

// TestPDFDetailCap: the PDF gives detail sections to the first partners
// with a problem up to the cap and refers the rest to the workbook.
func TestPDFDetailCap(t *testing.T) {
	tests := []struct {
		name    string
		failing int
		cap     int
		more    string // the sentence's count; "" for no sentence
	}{
		{name: "default cap", failing: DetailCap + 3, cap: 0, more: "... 3 more partners with a problem"},
		{name: "small cap", failing: 12, cap: 2, more: "... 10 more partners with a problem"},
		{name: "one over", failing: 3, cap: 2, more: "... 1 more partner with a problem"},
		{name: "under cap", failing: 12, cap: 20},
		{name: "no cap", failing: 12, cap: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := overCap(t, tc.failing)
			text, _ := pdfText(t, renderPDF(t, res, Options{NoFontSearch: true, DetailCap: tc.cap}))
			flat := strings.Join(strings.Fields(text), " ")
			got := strings.Contains(flat, "more partner")
			if tc.more == "" {
				if got {
					t.Errorf("a run under the cap is referred to the workbook:\n%s", text)
				}
				return
			}
			want := tc.more + ": see the Partners and Findings sheets of report.xlsx."
			if !strings.Contains(flat, want) {
				t.Errorf("no %q in the PDF", want)
			}
		})
	}
}

// TestPDFDetailCapShortens: capped, the PDF has fewer pages than uncapped.
func TestPDFDetailCapShortens(t *testing.T) {
	res := overCap(t, 30)
	_, capped := pdfText(t, renderPDF(t, res, Options{NoFontSearch: true, DetailCap: 1}))
	_, all := pdfText(t, renderPDF(t, res, Options{NoFontSearch: true, DetailCap: -1}))
	var c, a int
	fmt.Sscan(capped, &c)
	fmt.Sscan(all, &a)
	if c == 0 || c >= a {
		t.Errorf("capped PDF has %s pages, uncapped %s", capped, all)
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"zero", 0, "0"}, {"three digits", 999, "999"}, {"four", 1234, "1,234"},
		{"five", 12345, "12,345"}, {"seven", 1234567, "1,234,567"}, {"negative", -12345, "-12,345"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := thousands(tc.n); got != tc.want {
				t.Errorf("thousands(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}
