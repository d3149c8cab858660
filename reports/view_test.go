package reports

import (
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// TestRetiredChecksNotDoubled: the retired built-in checks restated the
// verdicts; a report of a results.json written before thresholds were
// recorded lists each verdict once and other checks' findings as they are.
// In a run that records its thresholds the names are a third party's.
func TestRetiredChecksNotDoubled(t *testing.T) {
	th := audit.DefaultThresholds()
	for _, tt := range []struct {
		name       string
		thresholds *audit.Thresholds
		want       string
	}{
		{"written before thresholds", nil, OriginVerdict + ":UntrustedRoot expiry:expiry"},
		{"written with thresholds", &th, OriginVerdict + ":UntrustedRoot verdict:verdict enforced:enforced expiry:expiry"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := &audit.Results{Schema: audit.SchemaVersion, Thresholds: tt.thresholds, Partners: []audit.Result{{
				Partner:  audit.Partner{Name: "P", Host: "mx.p.example", Enforced: true},
				Verdict:  audit.UntrustedRoot,
				Verdicts: []audit.Verdict{audit.UntrustedRoot},
				Findings: []audit.Finding{
					{Check: "verdict", Severity: audit.Critical, Message: "UntrustedRoot: ..."},
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
				got = append(got, f.Origin+":"+f.Issue)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("findings %q, want %q", got, tt.want)
			}
		})
	}
}

// Issue 10, item 2: what goes to a partner whose private root we lack asks
// for that root in the partner's words, and carries none of our admins'
// wording (neither the verdict's admin remedy nor the aia finding).
func TestPartnerViewMissingRoot(t *testing.T) {
	const root = "CN=Contoso Private Root CA,O=Contoso Ltd"
	r := audit.Result{
		Partner:  audit.Partner{Name: "Contoso", Host: "mx.contoso.example", Enforced: true},
		Verdict:  audit.PartialChain,
		Verdicts: []audit.Verdict{audit.PartialChain},
		Details:  map[audit.Verdict]string{audit.PartialChain: "the server sends 2 certificates, up to the CA CN=Contoso Mail Issuing CA"},
		Cases:    map[audit.Verdict]audit.Case{audit.PartialChain: audit.CaseMissingRoot},
		Root:     audit.Root{Store: audit.RootNone, Subject: root},
		Findings: []audit.Finding{{Check: "aia", Severity: audit.Critical, Message: "The server does not send the issuer of its CA certificate",
			Remedy: audit.PartialChain.CaseRemedy(audit.CaseMissingRoot, root)}},
	}
	res := &audit.Results{Schema: audit.SchemaVersion, Partners: []audit.Result{r}}
	for _, tt := range []struct {
		name       string
		forPartner bool
		want       []string
		mustNot    []string
		findings   int
	}{
		{"our admins", false, []string{"root CA (" + root + ")", "Trusted Root Certification Authorities"}, []string{"send its intermediate"}, 2},
		{"the partner", true, []string{"root CA certificate (" + root + ")"}, []string{"Ask the partner", "Trusted Root Certification Authorities", "--private-roots", "Intermediate Certification Authorities"}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newViewFor(res, Options{}, tt.forPartner)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.findings) != tt.findings {
				t.Fatalf("%d findings %+v, want %d", len(v.findings), v.findings, tt.findings)
			}
			var all strings.Builder
			for _, f := range v.findings {
				all.WriteString(f.Message + " | " + f.Remedy + "\n")
			}
			for _, w := range tt.want {
				if !strings.Contains(v.findings[0].Remedy, w) {
					t.Errorf("remedy %q lacks %q", v.findings[0].Remedy, w)
				}
			}
			for _, w := range tt.mustNot {
				if strings.Contains(all.String(), w) {
					t.Errorf("%q says %q", all.String(), w)
				}
			}
		})
	}
}

// TestCountsAgree: the cover's tiles count partners by worst severity and
// its chart by verdict; "Valid" is the same partners in both, and a Valid
// partner with a finding to act on is counted apart, by name.
func TestCountsAgree(t *testing.T) {
	valid := func(name string, fs ...audit.Finding) audit.Result {
		return audit.Result{Partner: audit.Partner{Name: name}, Verdict: audit.Valid, Verdicts: []audit.Verdict{audit.Valid}, Findings: fs}
	}
	failing := audit.Result{Partner: audit.Partner{Name: "f"}, Verdict: audit.NameMismatch, Verdicts: []audit.Verdict{audit.NameMismatch}}
	for _, tt := range []struct {
		name      string
		partners  []audit.Result
		valid     int // the "Valid" bar and the info tile
		withFinds int // the "Valid with findings" bar
	}{
		{"all valid", []audit.Result{valid("a"), valid("b")}, 2, 0},
		{"an info finding leaves a partner Valid", []audit.Result{valid("a", audit.Finding{Check: "aia", Severity: audit.Info, Message: "x"})}, 1, 0},
		{"a warning makes it Valid with findings", []audit.Result{valid("a", audit.Finding{Check: "tls-version", Severity: audit.Warning, Message: "x"}), valid("b")}, 1, 1},
		{"an error too", []audit.Result{valid("a", audit.Finding{Check: "expiry", Severity: audit.Error, Message: "x"}), failing}, 0, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newView(&audit.Results{Schema: audit.SchemaVersion, Partners: tt.partners}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			bars := map[string]int{}
			total := 0
			for _, c := range v.byVerdict() {
				bars[c.Label] = c.N
				total += c.N
			}
			tiles := map[string]int{}
			for _, c := range v.bySeverity() {
				tiles[c.Label] = c.N
			}
			if bars["Valid"] != tt.valid || tiles[string(audit.Info)] != tt.valid {
				t.Errorf("Valid bar %d, info tile %d, want both %d", bars["Valid"], tiles[string(audit.Info)], tt.valid)
			}
			if bars[audit.ValidWithFindings] != tt.withFinds {
				t.Errorf("%q bar %d, want %d", audit.ValidWithFindings, bars[audit.ValidWithFindings], tt.withFinds)
			}
			if total != len(tt.partners) {
				t.Errorf("the verdict chart counts %d partners, want %d", total, len(tt.partners))
			}
		})
	}
}
