package tlsrpt

import (
	"errors"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name     string
		txts     []string
		err      error
		status   Status
		rua      []string
		detail   string
		severity audit.Severity // of the one finding; "" for none
	}{
		{"RFC 8460 mailto example", []string{"v=TLSRPTv1; rua=mailto:reports@example.com"}, nil, Present, []string{"mailto:reports@example.com"}, "reports@example.com", ""},
		{"RFC 8460 https example", []string{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"}, nil, Present, []string{"https://reporting.example.com/v1/tlsrpt"}, "", ""},
		{"two URIs, blanks, trailing semicolon, other records", []string{"v=spf1 -all", "v=TLSRPTv1 ; rua=mailto:a@example.com , https://r.example.net/x;"}, nil, Present, []string{"mailto:a@example.com", "https://r.example.net/x"}, "", ""},
		{"extension kept", []string{"v=TLSRPTv1; rua=mailto:a@example.com; ext=1"}, nil, Present, []string{"mailto:a@example.com"}, "", ""},
		{"absent", []string{"v=spf1 -all"}, nil, Absent, nil, "_smtp._tls.example.org.", audit.Info},
		{"no rua", []string{"v=TLSRPTv1;"}, nil, Invalid, nil, "has no rua", audit.Warning},
		{"http is not allowed", []string{"v=TLSRPTv1; rua=http://r.example.com/"}, nil, Invalid, nil, `scheme "http"`, audit.Warning},
		{"mailto without address", []string{"v=TLSRPTv1; rua=mailto:"}, nil, Invalid, nil, "without an address", audit.Warning},
		{"mailto with a bad address", []string{"v=TLSRPTv1; rua=mailto:not an address"}, nil, Invalid, nil, "is not an address", audit.Warning},
		{"bare address", []string{"v=TLSRPTv1; rua=reports@example.com"}, nil, Invalid, nil, "only mailto: and https:", audit.Warning},
		{"two records", []string{"v=TLSRPTv1; rua=mailto:a@example.com", "v=TLSRPTv1; rua=mailto:b@example.com"}, nil, Invalid, nil, "2 v=TLSRPTv1 TXT records", audit.Warning},
		{"rua twice", []string{"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com"}, nil, Invalid, nil, "rua given twice", audit.Warning},
		{"lookup failed", nil, errors.New("SERVFAIL"), Invalid, nil, "SERVFAIL", audit.Warning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Evaluate("example.org", tc.txts, tc.err)
			if got.Status != tc.status {
				t.Fatalf("status %s (%s), want %s", got.Status, got.Detail, tc.status)
			}
			if !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("detail %q, want %q", got.Detail, tc.detail)
			}
			if tc.status == Present && strings.Join(got.Record.RUA, " ") != strings.Join(tc.rua, " ") {
				t.Errorf("rua %q, want %q", got.Record.RUA, tc.rua)
			}
			if tc.severity == "" {
				if len(got.Findings) != 0 {
					t.Errorf("findings %+v", got.Findings)
				}
				return
			}
			if len(got.Findings) != 1 || got.Findings[0].Severity != tc.severity || got.Findings[0].Check != Check {
				t.Errorf("findings %+v, want one %s", got.Findings, tc.severity)
			}
		})
	}
}

func TestApply(t *testing.T) {
	var res audit.Result
	var facts audit.Policies
	Evaluate("example.org", []string{"v=TLSRPTv1; rua=mailto:a@example.org"}, nil).Apply(&res, &facts)
	if facts.TLSRPT != "present" || len(facts.TLSRPTRUA) != 1 || len(res.Findings) != 0 {
		t.Errorf("present: %+v %+v", facts, res.Findings)
	}
	res, facts = audit.Result{}, audit.Policies{}
	Evaluate("example.org", nil, nil).Apply(&res, nil)
	if facts.TLSRPT != "" || len(res.Findings) != 1 {
		t.Errorf("absent: %+v %+v", facts, res.Findings)
	}
}
