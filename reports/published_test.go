package reports

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/mxaudit/mxaudit/audit"
)

const policiesFixturePath = "testdata/results-policies.json"

// buildPoliciesFixture makes a run with a partner for every verdict of the
// published policies (DNSSEC, DANE, MTA-STS) and one whose DANE is valid,
// each target with the facts the pipeline records.
func buildPoliciesFixture(t testing.TB) *audit.Results {
	now := fixtureStarted
	day := 24 * time.Hour
	pub := mkcert(t, "Example Public Root R1", "Example Trust Services", nil, true, now.AddDate(-10, 0, 0), now.AddDate(10, 0, 0))
	pubInt := mkcert(t, "Example Public TLS CA 2026", "Example Trust Services", pub, true, now.AddDate(-2, 0, 0), now.AddDate(5, 0, 0))
	sysRoot := audit.Root{Store: audit.RootSystem, Subject: pub.Cert.Subject.String(), NotAfter: pub.Cert.NotAfter}
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now, Finished: now.Add(20 * time.Second), Inventory: "domains.csv",
		PrivateRoots: []audit.PrivateRoot{}, InventoryErrors: []audit.InventoryError{}}
	type spec struct {
		name    string
		verdict audit.Verdict
		detail  string
		facts   audit.Policies
	}
	rpt := audit.Policies{TLSRPT: "present", TLSRPTRUA: []string{"mailto:tlsrpt@example.net"}}
	with := func(p audit.Policies) audit.Policies {
		p.TLSRPT, p.TLSRPTRUA = rpt.TLSRPT, rpt.TLSRPTRUA
		return p
	}
	specs := []spec{
		{"Secure Valid", audit.Valid, "", with(audit.Policies{DNSSEC: audit.DNSSECSecure, DANE: "valid", DANEDetail: "TLSA 3 1 1 at _25._tcp.mx.secure-valid.example. matches CN=mx.secure-valid.example",
			TLSA: []string{"3 1 1 6b9d0b7a3f1e2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"}, MTASTS: "enforce", MTASTSID: "20260601", MTASTSMX: []string{"mx.secure-valid.example"}})},
		{"Bogus Zone", audit.DnssecBogus, "the TLSA lookup of _25._tcp.mx.bogus-zone.example. failed in a signed zone: SERVFAIL",
			with(audit.Policies{DNSSEC: audit.DNSSECBogus, DANE: "bogus", MTASTS: "absent"})},
		{"No TLS Any More", audit.DaneRequiredNoTLS, "TLSA records at _25._tcp.mx.no-tls-any-more.example. require TLS, but EHLO does not offer STARTTLS",
			audit.Policies{DNSSEC: audit.DNSSECSecure, DANE: "no-tls", MTASTS: "absent", TLSRPT: "absent"}},
		{"Renewed Without TLSA", audit.TlsaMismatch, "none of the usable TLSA records at _25._tcp.mx.renewed-without-tlsa.example. (3 1 1) matches the certificate the server sends",
			with(audit.Policies{DNSSEC: audit.DNSSECSecure, DANE: "mismatch", TLSA: []string{"3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}, MTASTS: "absent"})},
		{"Policy Gone", audit.StsPolicyFetchError, "https://mta-sts.policy-gone.example/.well-known/mta-sts.txt: HTTP 404 Not Found",
			audit.Policies{DNSSEC: audit.DNSSECInsecure, DANE: "insecure", MTASTS: "failed", MTASTSID: "1", TLSRPT: "absent"}},
		{"Policy Host Private", audit.StsWebPkiInvalid, "https://mta-sts.policy-host-private.example/.well-known/mta-sts.txt: x509: certificate signed by unknown authority",
			audit.Policies{DNSSEC: audit.DNSSECInsecure, DANE: "insecure", MTASTS: "failed", MTASTSID: "1", TLSRPT: "invalid"}},
		{"Policy HTML", audit.StsPolicyInvalid, `https://mta-sts.policy-html.example/.well-known/mta-sts.txt: Content-Type "text/html", senders require text/plain`,
			audit.Policies{DNSSEC: audit.DNSSECUntrusted, DANE: "insecure", MTASTS: "failed", MTASTSID: "1"}},
		{"MX Unlisted", audit.StsMxMismatch, "MX mx.mx-unlisted.example is not listed in the MTA-STS policy (mx: mail.mx-unlisted.example)",
			with(audit.Policies{DNSSEC: audit.DNSSECInsecure, DANE: "insecure", MTASTS: "enforce", MTASTSID: "2", MTASTSMX: []string{"mail.mx-unlisted.example"}})},
		{"Private CA Enforce", audit.StsCertificateNotTrusted, "MX mx.private-ca-enforce.example: the certificate does not chain to a public root (a private CA never counts for MTA-STS); MTA-STS senders in mode enforce do not deliver",
			with(audit.Policies{DNSSEC: audit.DNSSECInsecure, DANE: "insecure", MTASTS: "enforce", MTASTSID: "3", MTASTSMX: []string{"*.private-ca-enforce.example"}})},
	}
	for i, s := range specs {
		domain := strings.ReplaceAll(strings.ToLower(s.name), " ", "-") + ".example"
		mx := "mx." + domain
		l := mkcert(t, mx, "Partner", pubInt, false, now.Add(-60*day), now.Add(200*day), mx)
		tr := audit.TargetResult{MX: mx, Preference: 10, Found: audit.FoundMX, Address: "192.0.2." + string(rune('1'+i)), Port: 25,
			Family: audit.IPv4, TLS: audit.StartTLS, DNSSEC: s.facts.DNSSEC == audit.DNSSECSecure, Verdict: s.verdict, Verdicts: []audit.Verdict{s.verdict},
			Root: sysRoot, Chain: []audit.Cert{audit.NewCert(l.Cert), audit.NewCert(pubInt.Cert)}, TLSVersion: "TLS 1.3",
			Cipher: "TLS_AES_128_GCM_SHA256", DurationMS: 90}
		facts := s.facts
		tr.Policies = &facts
		if s.detail != "" {
			tr.Details = map[audit.Verdict]string{s.verdict: s.detail}
		}
		r := audit.Result{Partner: audit.Partner{Line: i + 2, Name: s.name, Domain: domain, Port: 25, TLS: audit.StartTLS,
			Enforced: i%2 == 0, Contact: "postmaster@" + domain}, Findings: []audit.Finding{}}
		v := tr.View(&r)
		v.SetReporting()
		tr.Details, tr.ResultTypes = v.Details, v.ResultTypes
		tr.Remedy = v.VerdictRemedy(s.verdict)
		r.SetTargets([]audit.TargetResult{tr})
		res.Partners = append(res.Partners, r)
	}
	res.Partners[0].Findings = append(res.Partners[0].Findings, audit.Finding{Check: "dane", Severity: audit.Warning,
		Message: "only the current key has a TLSA record (3 1 1): the next key is not published, so the next certificate change breaks DANE until DNS catches up",
		Remedy:  "Ask the partner to publish \"current + next\"."})
	return res
}

func loadPoliciesFixture(t testing.TB) *audit.Results {
	t.Helper()
	if *regenFixture {
		if err := audit.WriteResults(filepath.FromSlash(policiesFixturePath), buildPoliciesFixture(t)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := audit.ReadResults(policiesFixturePath)
	if err != nil {
		t.Fatalf("fixture: %v (regenerate with go test ./reports -run TestPolicies -regen-fixture)", err)
	}
	return res
}

func TestPoliciesSheet(t *testing.T) {
	res := loadPoliciesFixture(t)
	var b bytes.Buffer
	if err := WriteXLSX(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(SheetPolicies)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(res.Partners) {
		t.Fatalf("Policies has %d rows, want header + %d", len(rows), len(res.Partners))
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	tests := []struct {
		name, partner, column, want string
	}{
		{"dane valid", "Secure Valid", "DANE", "valid"},
		{"dnssec", "Secure Valid", "DNSSEC", "secure"},
		{"sts mode", "Secure Valid", "MTA-STS", "enforce"},
		{"sts id", "Secure Valid", "MTA-STS id", "20260601"},
		{"tls-rpt", "Secure Valid", "TLS-RPT rua", "mailto:tlsrpt@example.net"},
		{"bogus type", "Bogus Zone", "RFC 8460 result types", "DnssecBogus: dnssec-invalid"},
		{"tlsa-invalid", "Renewed Without TLSA", "RFC 8460 result types", "TlsaMismatch: tlsa-invalid"},
		{"sts verdict", "Private CA Enforce", "Policy verdicts", "StsCertificateNotTrusted"},
		{"webpki", "Policy Host Private", "RFC 8460 result types", "StsWebPkiInvalid: sts-webpki-invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range rows[1:] {
				if r[0] != tc.partner {
					continue
				}
				if c := col[tc.column]; c >= len(r) || r[c] != tc.want {
					t.Errorf("%s %s = %q, want %q (row %v)", tc.partner, tc.column, cell(r, c), tc.want, r)
				}
				return
			}
			t.Errorf("no row for %s", tc.partner)
		})
	}
}

func cell(r []string, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

func TestPoliciesProbeExplanation(t *testing.T) {
	res := loadPoliciesFixture(t)
	tests := []struct {
		partner int
		want    []string
	}{
		{0, []string{"DNSSEC:    secure", "DANE:      valid: TLSA 3 1 1", "TLSA:      3 1 1 6b9d", "MTA-STS:   mode enforce, id 20260601, mx mx.secure-valid.example", "TLS-RPT:   reports go to mailto:tlsrpt@example.net"}},
		{1, []string{"DNSSEC:    bogus", "DnssecBogus", "Exchange Online NDR 5.7.324"}},
		{3, []string{"TlsaMismatch", "Exchange Online NDR 5.7.323"}},
		{6, []string{"not checked: the resolver is not trusted for DNSSEC"}},
		{7, []string{"StsMxMismatch", "Exchange Online NDR 4/5.4.8"}},
	}
	for _, tc := range tests {
		t.Run(res.Partners[tc.partner].Name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteProbeExplanation(&b, res, tc.partner, false); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("explanation lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}

func TestPoliciesPartnerRemedy(t *testing.T) {
	res := loadPoliciesFixture(t)
	for _, r := range res.Partners[1:] {
		t.Run(r.Name, func(t *testing.T) {
			got, err := PartnerRemedy(nil, &r, r.Verdict)
			if err != nil {
				t.Fatal(err)
			}
			if got == "" || strings.Contains(got, "<domain>") || strings.HasPrefix(got, "Ask the partner") {
				t.Errorf("partner remedy of %s: %q", r.Verdict, got)
			}
			if r.Verdict == audit.StsPolicyFetchError && !strings.Contains(got, "https://mta-sts."+r.Domain+"/") {
				t.Errorf("partner remedy does not name the policy URL of %s: %q", r.Domain, got)
			}
		})
	}
	if f, ok := PartnerFinding(res.Partners[0].Findings[0]); !ok || !strings.HasPrefix(f.Remedy, "Please") {
		t.Errorf("dane finding for the partner: %+v %v", f, ok)
	}
}

func TestPoliciesPDF(t *testing.T) {
	res := loadPoliciesFixture(t)
	var b bytes.Buffer
	if err := WritePDF(&b, res, Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	text, _ := pdfText(t, b.Bytes())
	flat := strings.Join(strings.Fields(text), " ")
	for _, w := range []string{"Published policies: DNSSEC, DANE, MTA-STS, TLS-RPT", "mx.bogus-zone.example", "dnssec-invalid", "20260601", "tlsa-invalid"} {
		if !strings.Contains(flat, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
}
