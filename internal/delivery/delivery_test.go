package delivery

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// now is the fixed clock of these tests.
var now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// provider is a probed target whose certificate names only its hosting
// provider, trusted by the roots of verifyPool.
func provider(t testing.TB, dnssec bool) (audit.TargetResult, func([]*x509.Certificate) ([]*x509.Certificate, string)) {
	t.Helper()
	spec := fleet.CertSpec{CommonName: "Delivery Test Root", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(900 * time.Hour)}
	root, err := fleet.NewRoot(spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.CommonName, spec.DNSNames = "mx.provider.example", []string{"mx.provider.example"}
	leaf, err := root.Issue(spec)
	if err != nil {
		t.Fatal(err)
	}
	tg := audit.TargetResult{MX: "mx.provider.example", Address: "127.0.0.9", Port: 25, TLS: audit.StartTLS, DNSSEC: dnssec,
		Verdict: audit.Valid, Chain: []audit.Cert{audit.NewCert(leaf.Cert)}, TLSVersion: "TLS 1.3",
		SMTP: audit.SMTP{StartTLS: true}, Revocation: &audit.Revocation{Status: "good"}}
	verify := func(chain []*x509.Certificate) ([]*x509.Certificate, string) {
		return []*x509.Certificate{chain[0], root.Cert}, ""
	}
	return tg, verify
}

func postfixMTA(t *testing.T, policy string) *mtapolicy.MTA {
	t.Helper()
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig(), PolicyMap: &mtapolicy.PolicyMap{}, HasPostfix: true}
	f := strings.Fields(policy)
	l, err := mtapolicy.ParseLevel(f[1])
	if err != nil {
		t.Fatal(err)
	}
	m.PolicyMap.Add(mtapolicy.PostfixPolicy{Key: f[0], Level: l, File: "tls_policy", Line: 1})
	return m
}

func decide(t *testing.T, m *mtapolicy.MTA, tg audit.TargetResult, o Options) *audit.Delivery {
	t.Helper()
	res := &audit.Results{Partners: []audit.Result{{Partner: audit.Partner{Name: "Hosted", Domain: "hosted.example", Port: 25}, Targets: []audit.TargetResult{tg}}}}
	o.MTA, o.Now = m, now
	Decide(res, nil, o)
	if d := res.Partners[0].Targets[0].Delivery; d == nil || res.Partners[0].Delivery == nil || res.Partners[0].Delivery.Outcome != d.Outcome {
		t.Fatalf("target %+v, partner %+v: want the same delivery", d, res.Partners[0].Delivery)
	}
	return res.Partners[0].Delivery
}

func TestDane(t *testing.T) {
	tlsa := func(v mtapolicy.TLSA) func(*audit.Result, *audit.TargetResult) (mtapolicy.TLSA, bool) {
		return func(*audit.Result, *audit.TargetResult) (mtapolicy.TLSA, bool) { return v, true }
	}
	cases := []struct {
		name    string
		level   string
		dnssec  bool
		tlsa    func(*audit.Result, *audit.TargetResult) (mtapolicy.TLSA, bool)
		outcome string
		rule    string
	}{
		{"dane not evaluated, secure MX", "dane", true, nil, audit.Undetermined, "DANE was not evaluated in this run"},
		{"dane-only not evaluated, secure MX", "dane-only", true, nil, audit.Undetermined, "DANE was not evaluated in this run"},
		{"dane not evaluated, insecure MX: no TLSA lookup at all", "dane", false, nil, audit.DeliversUnauthenticated, "non DNSSEC destination"},
		{"dane-only, insecure MX", "dane-only", false, nil, audit.Deferred, "dane-only"},
		{"dane valid", "dane", true, tlsa(mtapolicy.TLSAValid), audit.Delivers, "a TLSA record of mx.provider.example matches"},
		{"dane mismatch", "dane", true, tlsa(mtapolicy.TLSAMismatch), audit.Deferred, "no TLSA record"},
		{"dane bogus", "dane", true, tlsa(mtapolicy.TLSABogus), audit.Deferred, "DNSSEC validation failed"},
		{"dane no records", "dane", true, tlsa(mtapolicy.TLSANone), audit.DeliversUnauthenticated, "no TLSA records found"},
		{"verify needs no DANE facts", "verify", true, nil, audit.Delivers, "(the MX host name from a DNSSEC-secure answer)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, verify := provider(t, tc.dnssec)
			d := decide(t, postfixMTA(t, "hosted.example "+tc.level), tg, Options{Verify: verify, TLSA: tc.tlsa})
			if d.Outcome != tc.outcome || !strings.Contains(d.Rule, tc.rule) {
				t.Errorf("%s: %s, want %s: ...%s...", d.Outcome, d.Rule, tc.outcome, tc.rule)
			}
		})
	}
}

func TestExchangeWhatIfDomainSecure(t *testing.T) {
	tg, verify := provider(t, false)
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig(), HasServer: true, Server: mtapolicy.ExchangeConfig{Connectors: []mtapolicy.ExchangeRule{
		{Connector: "Partners", AddressSpaces: []string{"hosted.example"}, DNSRouting: true, RequireTLS: true, TLSAuth: mtapolicy.CertificateValidation, File: "send-connectors.csv", Line: 2},
	}}}
	d := decide(t, m, tg, Options{Verify: verify, WhatIfDomainSecure: true})
	if d.Outcome != audit.Delivers || d.MTA != "Exchange Server" {
		t.Errorf("today: %+v, want Exchange Server delivers under CertificateValidation", d)
	}
	if d.WhatIfOutcome != audit.Deferred || !strings.Contains(d.WhatIfRule, "event 11015") || !d.WouldStop() {
		t.Errorf("what if domain secure: %s %s, want deferred by event 11015", d.WhatIfOutcome, d.WhatIfRule)
	}
}

func TestUndelivered(t *testing.T) {
	m := postfixMTA(t, "nullmx.example secure")
	cases := []struct {
		verdict audit.Verdict
		outcome string
	}{{audit.NullMX, audit.Bounces}, {audit.DNSError, audit.Deferred}}
	for _, tc := range cases {
		t.Run(string(tc.verdict), func(t *testing.T) {
			res := &audit.Results{Partners: []audit.Result{{Partner: audit.Partner{Name: "N", Domain: "nullmx.example"}, Verdict: tc.verdict}}}
			Decide(res, nil, Options{MTA: m, Now: now})
			if d := res.Partners[0].Delivery; d == nil || d.Outcome != tc.outcome {
				t.Errorf("delivery %+v, want %s", d, tc.outcome)
			}
		})
	}
}

func TestTLSAFrom(t *testing.T) {
	cases := []struct {
		dane string
		want mtapolicy.TLSA
		ok   bool
	}{{"valid", mtapolicy.TLSAValid, true}, {"mismatch", mtapolicy.TLSAMismatch, true}, {"bogus", mtapolicy.TLSABogus, true},
		{"unusable", mtapolicy.TLSAUnusable, true}, {"insecure", mtapolicy.TLSANone, true}, {"none", mtapolicy.TLSANone, true}, {"", "", false}}
	for _, tc := range cases {
		t.Run(tc.dane, func(t *testing.T) {
			if got, ok := TLSAFrom(&audit.Policies{DANE: tc.dane}); got != tc.want || ok != tc.ok {
				t.Errorf("TLSAFrom(%q) = %q, %v", tc.dane, got, ok)
			}
		})
	}
	if _, ok := TLSAFrom(nil); ok {
		t.Error("no policies: DANE evaluated")
	}
}
