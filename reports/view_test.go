package reports

import (
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// TestVerdictCheckNotDoubled: the built-in verdict check restates the
// verdicts; a report lists each verdict once, other checks' findings as they are.
func TestVerdictCheckNotDoubled(t *testing.T) {
	res := &audit.Results{Schema: audit.SchemaVersion, Partners: []audit.Result{{
		Partner:  audit.Partner{Name: "P", Host: "mx.p.example", Enforced: true},
		Verdict:  audit.UntrustedRoot,
		Verdicts: []audit.Verdict{audit.UntrustedRoot},
		Findings: []audit.Finding{
			{Check: checkVerdict, Severity: audit.Critical, Message: "UntrustedRoot: ..."},
			{Check: "enforced", Severity: audit.Critical, Message: "TLS is enforced for this partner but its TLS is UntrustedRoot"},
			{Check: "expiry", Severity: audit.Warning, Message: "expires in 20 days"},
		},
	}}}
	v, err := newView(res, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range v.findings {
		got = append(got, f.Source+":"+f.Issue)
	}
	if len(got) != 2 || got[0] != SourceVerdict+":UntrustedRoot" || got[1] != "expiry:expiry" {
		t.Errorf("findings %q, want the verdict once and the expiry finding", got)
	}
}
