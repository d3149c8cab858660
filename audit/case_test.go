package audit

import (
	"strings"
	"testing"
	"time"
)

// Issue 10, item 9: days read as words.
func TestDaysText(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"expired long ago", now.Add(-1062 * day), "expired 1062 days ago"},
		{"expired a day ago", now.Add(-day), "expired 1 day ago"},
		{"expired an hour ago", now.Add(-time.Hour), "expired 1 day ago"},
		{"expires this instant", now, "expired less than a day ago"},
		{"expires in an hour", now.Add(time.Hour), "less than a day left"},
		{"one day left", now.Add(day + time.Hour), "1 day left"},
		{"many days left", now.Add(300 * day), "300 days left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaysText(tt.t, now); got != tt.want {
				t.Errorf("DaysText = %q, want %q", got, tt.want)
			}
		})
	}
}

// Issue 10, item 6: WeakSignature fails under a public root and warns under
// an imported private root; other verdicts do not depend on the root.
func TestSeverityUnder(t *testing.T) {
	tests := []struct {
		name     string
		v        Verdict
		enforced bool
		source   string
		want     Severity
	}{
		{"SHA-1 under a public root", WeakSignature, false, RootSystem, Error},
		{"SHA-1 under a public root, enforced", WeakSignature, true, RootSystem, Critical},
		{"SHA-1 under a private root", WeakSignature, false, RootPrivate, Warning},
		{"SHA-1 under a private root, enforced", WeakSignature, true, RootPrivate, Warning},
		{"SHA-1, no root reached", WeakSignature, false, RootNone, Warning},
		{"SHA-1, no root reached, enforced", WeakSignature, true, RootNone, Error},
		{"weak key does not depend on the root", WeakKey, false, RootSystem, Warning},
		{"partial chain", PartialChain, true, RootNone, Critical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.SeverityUnder(tt.enforced, tt.source); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			r := Result{Partner: Partner{Enforced: tt.enforced}, Verdict: tt.v, Verdicts: []Verdict{tt.v}, Root: Root{Store: tt.source}}
			if got := r.VerdictSeverity(tt.v); got != tt.want {
				t.Errorf("Result.VerdictSeverity %s, want %s", got, tt.want)
			}
		})
	}
	// A later verdict can be worse than the primary one.
	r := Result{Verdict: IssuerChanged, Verdicts: []Verdict{IssuerChanged, WeakSignature}, Root: Root{Store: RootSystem}}
	if got := r.WorstSeverity(); got != Error {
		t.Errorf("WorstSeverity %s, want error", got)
	}
}

// Issue 10, item 2: the case of a PartialChain, recorded or derived from
// the chain, picks the remedy.
func TestPartialChainCase(t *testing.T) {
	leaf := Cert{Subject: "CN=mx.a.example", Issuer: "CN=A Issuing CA"}
	inter := Cert{Subject: "CN=A Issuing CA", Issuer: "CN=A Root CA"}
	junk := Cert{Subject: "CN=Unrelated", Issuer: "CN=Other"}
	tests := []struct {
		name  string
		chain []Cert
		cases map[Verdict]Case
		want  Case
		says  string
	}{
		{"leaf and intermediate", []Cert{leaf, inter}, nil, CaseMissingRoot, "root CA (CN=A Root CA)"},
		{"leaf alone", []Cert{leaf}, nil, CaseMissingIntermediate, "intermediate CA certificate (CN=A Root CA)"},
		{"leaf and an unrelated certificate", []Cert{leaf, junk}, nil, CaseMissingIntermediate, "intermediate"},
		{"intermediate sent first", []Cert{leaf, junk, inter}, nil, CaseMissingRoot, "root CA"},
		{"recorded case wins", []Cert{leaf, inter}, map[Verdict]Case{PartialChain: CaseMissingIntermediate}, CaseMissingIntermediate, "intermediate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Result{Verdict: PartialChain, Verdicts: []Verdict{PartialChain}, Chain: tt.chain, Cases: tt.cases,
				Root: Root{Store: RootNone, Subject: "CN=A Root CA"}}
			if got := r.Case(PartialChain); got != tt.want {
				t.Fatalf("case %q, want %q", got, tt.want)
			}
			if got := r.VerdictRemedy(PartialChain); !strings.Contains(got, tt.says) {
				t.Errorf("remedy %q does not say %q", got, tt.says)
			}
			if got, admin := r.VerdictPartnerRemedy(PartialChain), r.VerdictRemedy(PartialChain); got == admin || strings.Contains(got, "Ask the partner") {
				t.Errorf("partner remedy in our admins' words: %q", got)
			}
		})
	}
	if c := (&Result{Verdicts: []Verdict{Expired}}).Case(Expired); c != "" {
		t.Errorf("Expired has case %q", c)
	}
}
