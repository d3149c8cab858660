package dane

import (
	"crypto/x509"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// now is the fixed clock of every test, as crypto/x509's tests use CurrentTime.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

type pki struct {
	root, issuer, otherCA *fleet.CA
	leaf, expired, wrong  *fleet.Issued
	rsa                   *fleet.Issued
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var p pki
	var err error
	p.root, err = fleet.NewRoot(fleet.CertSpec{CommonName: "DANE Test Root", NotBefore: now.Add(-3650 * day), NotAfter: now.Add(-1 * day)}) // expired: DANE-TA does not care
	must(err)
	p.issuer, err = p.root.SubCA(fleet.CertSpec{CommonName: "DANE Test Issuing CA", NotBefore: now.Add(-365 * day), NotAfter: now.Add(365 * day)})
	must(err)
	p.otherCA, err = fleet.NewRoot(fleet.CertSpec{CommonName: "Other CA", NotBefore: now.Add(-365 * day), NotAfter: now.Add(365 * day)})
	must(err)
	leaf := func(ca *fleet.CA, nb, na time.Time, rsaBits int, names ...string) *fleet.Issued {
		is, err := ca.Issue(fleet.CertSpec{CommonName: names[0], DNSNames: names, NotBefore: nb, NotAfter: na, RSABits: rsaBits})
		must(err)
		return is
	}
	p.leaf = leaf(p.issuer, now.Add(-10*day), now.Add(80*day), 0, "mx1.example.com")
	p.expired = leaf(p.issuer, now.Add(-100*day), now.Add(-10*day), 0, "mx1.example.com")
	p.wrong = leaf(p.issuer, now.Add(-10*day), now.Add(80*day), 0, "mail.elsewhere.test")
	p.rsa = leaf(p.issuer, now.Add(-10*day), now.Add(80*day), 2048, "mx1.example.com")
	return &p
}

func chain(cs ...*x509.Certificate) []*x509.Certificate { return cs }

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		// RFC 6698 section 2.3 examples.
		{"rfc6698 0 0 1", "0 0 1 d2abde240d7cd3ee6b4b28c54df034b9 7983a1d16e8a410e4561cb106618e971", "0 0 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971", false},
		{"rfc6698 1 1 2", "1 1 2 92003ba34942dc74152e2f2c408d29ec a5a520e7f2e06bb944f4dca346baf63c 1b177615d466f6c4b71c216a50292bd5 8c9ebdd2f74e38fe51ffd48c43326cbc", "1 1 2 92003ba34942dc74152e2f2c408d29eca5a520e7f2e06bb944f4dca346baf63c1b177615d466f6c4b71c216a50292bd58c9ebdd2f74e38fe51ffd48c43326cbc", false},
		{"too few fields", "3 1 1", "", true},
		{"usage out of range", "300 1 1 00", "", true},
		{"bad hex", "3 1 1 zz", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecord(tc.in)
			if tc.err {
				if err == nil {
					t.Fatalf("ParseRecord(%q) = %v, want an error", tc.in, r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromRR(t *testing.T) {
	rr, err := dns.NewRR("_25._tcp.mx1.example.com. 300 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromRR(rr.(*dns.TLSA))
	if err != nil {
		t.Fatal(err)
	}
	if r.Usage != 3 || r.Selector != 1 || r.MatchingType != 1 || len(r.Data) != 32 || r.Data[0] != 0x01 {
		t.Errorf("FromRR = %v", r)
	}
	if got := Name("mx1.example.com", 25); got != "_25._tcp.mx1.example.com." {
		t.Errorf("Name = %q", got)
	}
}

func TestUsable(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		want bool
	}{
		{"PKIX-TA is unusable (RFC 7672 3.1.3)", Record{Usage: 0, Selector: 1, MatchingType: 1}, false},
		{"PKIX-EE is unusable (RFC 7672 3.1.3)", Record{Usage: 1, Selector: 1, MatchingType: 1}, false},
		{"DANE-TA", Record{Usage: 2, Selector: 1, MatchingType: 1}, true},
		{"DANE-EE full cert", Record{Usage: 3, Selector: 0, MatchingType: 0}, true},
		{"DANE-EE sha512", Record{Usage: 3, Selector: 1, MatchingType: 2}, true},
		{"unknown usage", Record{Usage: 4, Selector: 1, MatchingType: 1}, false},
		{"unknown selector", Record{Usage: 3, Selector: 2, MatchingType: 1}, false},
		{"unknown matching type", Record{Usage: 3, Selector: 1, MatchingType: 3}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Usable(); got != tc.want {
				t.Errorf("Usable(%s) = %v", tc.r.Kind(), got)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	p := newPKI(t)
	c := p.leaf.Cert
	for _, sel := range []uint8{Cert, SPKI} {
		for _, mt := range []uint8{Full, SHA2256, SHA2512} {
			r := For(DANEEE, sel, mt, c)
			if !r.Matches(c) {
				t.Errorf("%s does not match the certificate it was made from", r.Kind())
			}
			if r.Matches(p.wrong.Cert) {
				t.Errorf("%s matches another certificate", r.Kind())
			}
		}
	}
	// Selector 1 survives a re-issue with the same key; selector 0 does not.
	reissued, err := p.issuer.Issue(fleet.CertSpec{CommonName: "mx1.example.com", NotBefore: now, NotAfter: now.Add(day)})
	if err != nil {
		t.Fatal(err)
	}
	if For(DANEEE, Cert, SHA2256, c).Matches(reissued.Cert) {
		t.Error("3 0 1 matches a different certificate")
	}
	if got := (Record{Usage: 3, Selector: 1, MatchingType: 9, Data: []byte{1}}).Matches(c); got {
		t.Error("unknown matching type matched")
	}
}

func TestEvaluate(t *testing.T) {
	p := newPKI(t)
	full := chain(p.leaf.Cert, p.issuer.Cert, p.root.Cert)
	noTA := chain(p.leaf.Cert, p.issuer.Cert)
	ee := For(DANEEE, SPKI, SHA2256, p.leaf.Cert)
	eeNext := For(DANEEE, SPKI, SHA2256, p.wrong.Cert)
	taRoot := For(DANETA, SPKI, SHA2256, p.root.Cert)
	taIssuer := For(DANETA, SPKI, SHA2256, p.issuer.Cert)
	secure := func(rs ...Record) Lookup {
		return Lookup{HostSecure: true, Rcode: dns.RcodeSuccess, Secure: true, Records: rs}
	}

	tests := []struct {
		name     string
		in       Input
		status   Status
		verdict  audit.Verdict
		findings []string // substrings, one per expected finding, in order
		detail   string
	}{
		{"DANE-EE 3 1 1 matches", Input{Lookup: secure(ee, eeNext), TLS: true, Chains: [][]*x509.Certificate{full}},
			Valid, "", nil, "3 1 1"},
		{"DANE-EE ignores names (RFC 7672 3.1.1)", Input{Lookup: secure(For(DANEEE, SPKI, SHA2256, p.wrong.Cert), ee), TLS: true, Chains: [][]*x509.Certificate{chain(p.wrong.Cert, p.issuer.Cert)}},
			Valid, "", nil, "mail.elsewhere.test"},
		{"DANE-EE ignores dates (RFC 7672 3.1.1)", Input{Lookup: secure(For(DANEEE, Cert, SHA2512, p.expired.Cert), ee), TLS: true, Chains: [][]*x509.Certificate{chain(p.expired.Cert)}},
			Valid, "", nil, ""},
		{"DANE-EE mismatch", Input{Lookup: secure(eeNext), TLS: true, Chains: [][]*x509.Certificate{full}},
			Mismatch, audit.TlsaMismatch, nil, "would match 3 1 1 " + hex.EncodeToString(ee.Data)},
		{"DANE-TA 2 1 1 with the TA sent", Input{Host: "mx1.example.com", Lookup: secure(taRoot), TLS: true, Chains: [][]*x509.Certificate{full}},
			Valid, "", nil, "DANE Test Root"},
		{"DANE-TA 2 1 1 with the TA not sent", Input{Host: "mx1.example.com", Lookup: secure(taRoot), TLS: true, Chains: [][]*x509.Certificate{noTA}},
			Mismatch, audit.TlsaMismatch, nil, "2 1 1"},
		{"DANE-TA on the issuing CA", Input{Host: "mx1.example.com", Lookup: secure(taIssuer), TLS: true, Chains: [][]*x509.Certificate{noTA}},
			Valid, "", nil, "DANE Test Issuing CA"},
		{"DANE-TA 2 1 0 bare key of an unsent root", Input{Host: "mx1.example.com", Lookup: secure(For(DANETA, SPKI, Full, p.root.Cert)), TLS: true, Chains: [][]*x509.Certificate{noTA}},
			Valid, "", nil, "the key that signed the chain"},
		{"DANE-TA checks the MX host name (RFC 7672 3.2.2)", Input{Host: "mx2.example.com", Lookup: secure(taRoot), TLS: true, Chains: [][]*x509.Certificate{full}},
			Mismatch, audit.TlsaMismatch, nil, ""},
		{"DANE-TA accepts the recipient domain", Input{Host: "mx.elsewhere.test", Domain: "mx1.example.com", Lookup: secure(taRoot), TLS: true, Chains: [][]*x509.Certificate{full}},
			Valid, "", nil, ""},
		{"DANE-TA accepts the CNAME-expanded MX name", Input{Host: "mail.customer.test", AltNames: []string{"mx1.example.com."}, Lookup: secure(taRoot), TLS: true, Chains: [][]*x509.Certificate{full}},
			Valid, "", nil, ""},
		{"DANE-TA checks the leaf's dates", Input{Host: "mx1.example.com", Lookup: secure(taRoot), TLS: true, Chains: [][]*x509.Certificate{chain(p.expired.Cert, p.issuer.Cert, p.root.Cert)}},
			Mismatch, audit.TlsaMismatch, nil, ""},
		{"DANE-TA rejects a chain to another CA", Input{Host: "mx1.example.com", Lookup: secure(For(DANETA, SPKI, SHA2256, p.otherCA.Cert)), TLS: true, Chains: [][]*x509.Certificate{chain(p.leaf.Cert, p.issuer.Cert, p.otherCA.Cert)}},
			Mismatch, audit.TlsaMismatch, nil, ""},
		{"2 0 1 record gets rollover advice", Input{Host: "mx1.example.com", Lookup: secure(For(DANETA, Cert, SHA2256, p.issuer.Cert)), TLS: true, Chains: [][]*x509.Certificate{noTA}},
			Valid, "", []string{"re-issues its certificate"}, ""},
		{"single 3 1 1 gets rollover advice", Input{Lookup: secure(ee), TLS: true, Chains: [][]*x509.Certificate{full}},
			Valid, "", []string{"next key is not"}, ""},
		{"3 1 1 and 3 1 2 of the same key: still no next key", Input{Lookup: secure(ee, For(DANEEE, SPKI, SHA2512, p.leaf.Cert)), TLS: true, Chains: [][]*x509.Certificate{full}},
			Valid, "", []string{"next key is not"}, ""},
		{"3 1 1 plus 2 1 1 needs no advice", Input{Host: "mx1.example.com", Lookup: secure(ee, taIssuer), TLS: true, Chains: [][]*x509.Certificate{noTA}},
			Valid, "", nil, ""},
		{"RSA and ECDSA served, TLSA for ECDSA only", Input{Lookup: secure(ee, eeNext), TLS: true, Chains: [][]*x509.Certificate{full, chain(p.rsa.Cert, p.issuer.Cert)}},
			Valid, "", []string{"also serves a RSA certificate"}, ""},
		{"usages 0 and 1 only: TLS still required", Input{Lookup: secure(For(PKIXTA, SPKI, SHA2256, p.root.Cert), For(PKIXEE, SPKI, SHA2256, p.leaf.Cert)), TLS: true, Chains: [][]*x509.Certificate{full}},
			Unusable, "", []string{"unusable for SMTP"}, ""},
		{"usages 0 and 1 only, no STARTTLS", Input{Lookup: secure(For(PKIXEE, SPKI, SHA2256, p.leaf.Cert)), TLSError: "EHLO does not offer STARTTLS"},
			NoTLS, audit.DaneRequiredNoTLS, []string{"unusable for SMTP"}, "EHLO does not offer STARTTLS"},
		{"TLSA published, handshake failed", Input{Lookup: secure(ee), TLSError: "handshake: remote error"},
			NoTLS, audit.DaneRequiredNoTLS, nil, "handshake: remote error"},
		{"digest agility: only the strongest digest counts (RFC 7671 9)", Input{Lookup: secure(ee, Record{Usage: 3, Selector: 1, MatchingType: 2, Data: make([]byte, 64)}), TLS: true, Chains: [][]*x509.Certificate{full}},
			Mismatch, audit.TlsaMismatch, []string{"stronger digest"}, ""},
		{"unsigned TLSA is ignored", Input{Lookup: Lookup{HostSecure: true, Records: []Record{eeNext}}, TLS: true, Chains: [][]*x509.Certificate{full}},
			Insecure, "", []string{"not DNSSEC-signed"}, ""},
		{"insecure host: no TLSA lookup", Input{Host: "mx1.example.com", Lookup: Lookup{Rcode: dns.RcodeServerFailure}, TLS: true},
			Insecure, "", nil, "mx1.example.com are not DNSSEC-validated"},
		{"no TLSA records", Input{Lookup: Lookup{HostSecure: true, Rcode: dns.RcodeNameError, Secure: true}, TLS: true},
			None, "", nil, ""},
		{"SERVFAIL in a signed zone", Input{Lookup: Lookup{HostSecure: true, Rcode: dns.RcodeServerFailure, Reason: "signature expired"}, TLS: true},
			Bogus, audit.DnssecBogus, nil, "SERVFAIL (signature expired)"},
		{"lookup timeout in a signed zone", Input{Lookup: Lookup{HostSecure: true, Err: errors.New("i/o timeout")}, TLS: true},
			Bogus, audit.DnssecBogus, nil, "i/o timeout"},
		{"REFUSED in a signed zone", Input{Lookup: Lookup{HostSecure: true, Rcode: dns.RcodeRefused}, TLS: true},
			Bogus, audit.DnssecBogus, nil, "REFUSED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = now
			if tc.in.Host == "" {
				tc.in.Host = "mx1.example.com"
			}
			got := Evaluate(tc.in)
			if got.Status != tc.status || got.Verdict != tc.verdict {
				t.Fatalf("Evaluate = %s/%q (%s), want %s/%q", got.Status, got.Verdict, got.Detail, tc.status, tc.verdict)
			}
			if !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", got.Detail, tc.detail)
			}
			if len(got.Findings) != len(tc.findings) {
				t.Fatalf("findings %v, want %d: %q", got.Findings, len(tc.findings), tc.findings)
			}
			for i, f := range got.Findings {
				if !strings.Contains(f.Message, tc.findings[i]) || f.Check != Check || f.Remedy == "" {
					t.Errorf("finding %d = %+v, want %q", i, f, tc.findings[i])
				}
			}
			if (got.Status == Valid) != (len(got.Matches) > 0) {
				t.Errorf("status %s with matches %v", got.Status, got.Matches)
			}
		})
	}
}

func TestMatchName(t *testing.T) {
	tests := []struct {
		pattern, host string
		want          bool
	}{
		{"mx1.example.com", "MX1.Example.com.", true},
		{"*.example.com", "mx1.example.com", true},
		{"*.example.com", "a.mx1.example.com", false},
		{"*.example.com", "example.com", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.host, func(t *testing.T) {
			if got := matchName(tc.pattern, tc.host); got != tc.want {
				t.Errorf("matchName(%q, %q) = %v", tc.pattern, tc.host, got)
			}
		})
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		r       Result
		verdict []audit.Verdict
	}{
		{"valid is a fact, not a verdict", Result{Status: Valid, Detail: "TLSA 3 1 1 matches"}, nil},
		{"mismatch is a verdict", Result{Status: Mismatch, Verdict: audit.TlsaMismatch, Detail: "none matches",
			Findings: []audit.Finding{{Check: Check, Severity: audit.Warning, Message: "advice"}}}, []audit.Verdict{audit.TlsaMismatch}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res audit.Result
			var facts audit.Policies
			tc.r.Apply(&res, &facts)
			if facts.DANE != string(tc.r.Status) || facts.DANEDetail != tc.r.Detail {
				t.Fatalf("facts %+v", facts)
			}
			if !slices.Equal(res.Verdicts, tc.verdict) || len(res.Findings) != len(tc.r.Findings) {
				t.Errorf("verdicts %v findings %v", res.Verdicts, res.Findings)
			}
			for _, v := range tc.verdict {
				if res.Details[v] != tc.r.Detail {
					t.Errorf("detail of %s = %q", v, res.Details[v])
				}
			}
		})
	}
}
