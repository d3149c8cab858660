package mtasts

import (
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func TestApply(t *testing.T) {
	outcome := Outcome{Verdict: audit.StsMxMismatch, Severity: audit.Warning, ResultType: audit.ValidationFailure, Host: "mx2.example.com", Detail: "MX mx2.example.com is not listed"}
	tests := []struct {
		name     string
		r        Result
		verdicts []audit.Verdict
		findings int
	}{
		{"enforce: outcomes are verdicts", Result{Status: InEnforce, Record: &Record{ID: "1"}, Policy: &Policy{MX: []string{"mx1.example.com"}}, Outcomes: []Outcome{outcome, outcome}},
			[]audit.Verdict{audit.StsMxMismatch}, 0},
		{"testing: outcomes are warnings", Result{Status: InTesting, Record: &Record{ID: "1"}, Policy: &Policy{MX: []string{"mx1.example.com"}}, Outcomes: []Outcome{outcome}},
			nil, 1},
		{"absent", Result{Status: Absent}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res audit.Result
			var facts audit.Policies
			tc.r.Apply(&res, &facts)
			if facts.MTASTS != string(tc.r.Status) {
				t.Errorf("mta_sts %q", facts.MTASTS)
			}
			if tc.r.Record != nil && (facts.MTASTSID != "1" || len(facts.MTASTSMX) != 1) {
				t.Errorf("facts %+v", facts)
			}
			if len(res.Verdicts) != len(tc.verdicts) || len(res.Findings) != tc.findings {
				t.Fatalf("verdicts %v findings %+v", res.Verdicts, res.Findings)
			}
			if len(tc.verdicts) > 0 && res.Details[audit.StsMxMismatch] != outcome.Detail+"; "+outcome.Detail {
				t.Errorf("details %q", res.Details)
			}
			if tc.findings > 0 && (res.Findings[0].Severity != audit.Warning || res.Findings[0].Remedy == "") {
				t.Errorf("finding %+v", res.Findings[0])
			}
		})
	}
}

func TestEvaluateUnreachedMX(t *testing.T) {
	p, err := ParsePolicy([]byte("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\nmax_age: 604800\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mx   MX
		want []audit.Verdict
	}{
		{"refused: the probe's verdict says it", MX{Host: "mx1.example.com", TLSError: "connection refused", Unreached: true}, nil},
		{"unreached and unlisted: still unlisted", MX{Host: "mx9.example.com", Unreached: true}, []audit.Verdict{audit.StsMxMismatch}},
		{"greeted, no STARTTLS: senders fail", MX{Host: "mx1.example.com", TLSError: "EHLO does not offer STARTTLS"}, []audit.Verdict{audit.StsCertificateNotTrusted}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Evaluate(Input{Domain: "example.com", TXT: []string{"v=STSv1; id=1"}, Fetched: &Fetched{Policy: p}, MX: []MX{tc.mx}})
			var got []audit.Verdict
			for _, o := range r.Outcomes {
				got = append(got, o.Verdict)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Errorf("outcomes %v, want %v", got, tc.want)
			}
		})
	}
}
