package reports

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// TestPDFVantages: with Options.Vantages the PDF compares the vantage
// points: the differing targets with each point's verdict and the note,
// capped with the rest referred to vantages.csv, and how many were alike.
func TestPDFVantages(t *testing.T) {
	names := []string{"", "us-east"}
	for _, tc := range []struct {
		name  string
		extra int      // more differing partners
		want  []string // in the flattened text
		not   []string
	}{
		{name: "few", want: []string{
			"Vantage points compared", "The same audit from default and us-east",
			"firewalled", "ConnectionRefused", "fails from us-east only", "1 target seen alike from every vantage point, 1 seen differently.",
		}, not: []string{"more target"}},
		{name: "capped", extra: maxListRows + 49, want: []string{
			"... and 50 more targets: see vantages.csv.", "1 target seen alike from every vantage point, 250 seen differently.",
			fmt.Sprintf("extra%03d ", maxListRows-2), // the last row shown: firewalled, then extra000 on
		}, not: []string{fmt.Sprintf("extra%03d ", maxListRows-1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eu := vantageRun(row("same", false, audit.Valid), row("firewalled", true, audit.Valid))
			us := vantageRun(row("same", false, audit.Valid), row("firewalled", true, audit.ConnectionRefused))
			for k := range tc.extra {
				n := fmt.Sprintf("extra%03d", k)
				eu.Partners = append(eu.Partners, row(n, true, audit.Valid))
				us.Partners = append(us.Partners, row(n, true, audit.Timeout))
			}
			rows := CompareVantages(names, []*audit.Results{eu, us})
			diff := Differing(rows)
			vs := &Vantages{Names: names, Rows: diff, Same: len(rows) - len(diff)}
			text, _ := pdfText(t, renderPDF(t, loadFixture(t), Options{NoFontSearch: true, Vantages: vs}))
			flat := strings.Join(strings.Fields(text), " ")
			for _, w := range tc.want {
				if !strings.Contains(flat, w) {
					t.Errorf("the PDF lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(flat, w) {
					t.Errorf("the PDF has %q", w)
				}
			}
			if plain, _ := pdfText(t, renderPDF(t, loadFixture(t), Options{NoFontSearch: true})); strings.Contains(plain, "Vantage points compared") {
				t.Error("a PDF without Options.Vantages compares vantage points")
			}
		})
	}
}
