package mtapolicy_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/inventory/postfix"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// now is the fixed clock of every test here.
var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func day(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// world is a PKI and one loopback SMTP server per situation, probed once.
type world struct {
	system     *x509.CertPool // the "system roots": only the public test root
	privRoot   *fleet.CA
	privInter  *fleet.CA
	oldInter   *fleet.CA // a private intermediate that expired yesterday
	dir        string    // tafiles
	obs        map[string]*probe.Observation
	leafV1     *fleet.Issued
	fpOldCert  string // sha256 fingerprint of the v1 certificate
	fpOldKey   string // sha256 fingerprint of the v1 public key
	fpOldKeyMD string // md5 fingerprint of the v1 public key
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

func spec(cn string, names ...string) fleet.CertSpec {
	return fleet.CertSpec{CommonName: cn, DNSNames: names, NotBefore: now.Add(-day(30)), NotAfter: now.Add(day(300))}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// reissue makes a new certificate for the same key (a renewal without key rotation).
func reissue(ca *fleet.CA, old *fleet.Issued) *fleet.Issued {
	return must(ca.Issue(fleet.CertSpec{CommonName: old.Cert.Subject.CommonName, DNSNames: old.Cert.DNSNames, Key: old.Key,
		NotBefore: now.Add(-day(1)), NotAfter: now.Add(day(365))}))
}

func setup(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = build() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func build() (w *world, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = r.(error)
		}
	}()
	w = &world{obs: map[string]*probe.Observation{}}
	pubRoot := must(fleet.NewRoot(spec("Test Public Root")))
	pubCA := must(pubRoot.SubCA(spec("Test Public CA 1")))
	w.system = x509.NewCertPool()
	w.system.AddCert(pubRoot.Cert)

	w.privRoot = must(fleet.NewRoot(spec("Partner Private Root")))
	w.privInter = must(w.privRoot.SubCA(spec("Partner Issuing CA")))
	old := spec("Partner Old Issuing CA")
	old.NotBefore, old.NotAfter = now.Add(-day(800)), now.Add(-day(1))
	w.oldInter = must(w.privRoot.SubCA(old))

	provider := must(pubCA.Issue(spec("mx1.provider.example", "mx1.provider.example", "*.provider.example")))
	partner := must(pubCA.Issue(spec("mx.partner.example", "mx.partner.example", "partner.example")))
	private := must(w.privInter.Issue(spec("mx.partner.example", "mx.partner.example")))
	privOld := must(w.oldInter.Issue(spec("mx.partner.example", "mx.partner.example")))
	self := must(fleet.SelfSigned(spec("mx.selfsigned.example", "mx.selfsigned.example")))
	expSpec := spec("mx.partner.example", "mx.partner.example")
	expSpec.NotAfter = now.Add(-day(2))
	expired := must(w.privInter.Issue(expSpec))
	w.leafV1 = must(pubCA.Issue(spec("mx.pinned.example", "mx.pinned.example")))
	rotated := must(pubCA.Issue(spec("mx.pinned.example", "mx.pinned.example")))
	renewed := reissue(pubCA, w.leafV1)
	w.fpOldCert = must(mtapolicy.Fingerprint("sha256", w.leafV1.Cert.Raw))
	w.fpOldKey = must(mtapolicy.Fingerprint("sha256", w.leafV1.Cert.RawSubjectPublicKeyInfo))
	w.fpOldKeyMD = must(mtapolicy.Fingerprint("md5", w.leafV1.Cert.RawSubjectPublicKeyInfo))

	servers := map[string]fleet.Behavior{
		"provider":   {Cert: provider.TLSCert(pubCA.Cert)},
		"partner":    {Cert: partner.TLSCert(pubCA.Cert)},
		"private":    {Cert: private.TLSCert(w.privInter.Cert, w.privRoot.Cert)},
		"privateOld": {Cert: privOld.TLSCert(w.oldInter.Cert)},
		"self":       {Cert: self.TLSCert()},
		"expired":    {Cert: expired.TLSCert(w.privInter.Cert)},
		"plain":      {NoStartTLS: true},
		"reset":      {Cert: self.TLSCert(), Hostile: fleet.ResetInHandshake},
		"tls12":      {Cert: provider.TLSCert(pubCA.Cert), MaxVersion: tls.VersionTLS12},
		"pinnedV1":   {Cert: w.leafV1.TLSCert(pubCA.Cert)},
		"rotated":    {Cert: rotated.TLSCert(pubCA.Cert)},
		"renewed":    {Cert: renewed.TLSCert(pubCA.Cert)},
	}
	for name, b := range servers {
		srv, err := fleet.Listen("127.0.0.1:0", b)
		if err != nil {
			return nil, err
		}
		obs := probe.Probe(context.Background(), audit.Target{Host: "mx.test", Port: 25, TLS: audit.StartTLS}, srv.Addr, probe.Options{HELO: "mxaudit.test", Timeout: 10 * time.Second})
		srv.Close()
		if name != "plain" && name != "reset" && len(obs.Chain) == 0 {
			return nil, obs.Err
		}
		w.obs[name] = obs
	}
	w.dir, err = os.MkdirTemp("", "mtapolicy-ta")
	if err != nil {
		return nil, err
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o644); err != nil {
			panic(err)
		}
	}
	write("partner-issuing-ca.pem", fleet.PEM(w.privInter.Cert))
	write("partner-old-ca.pem", fleet.PEM(w.oldInter.Cert))
	spki := w.privRoot.Cert.RawSubjectPublicKeyInfo
	write("partner-root-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	write("unrelated.pem", fleet.PEM(pubCA.Cert))
	write("self.pem", fleet.PEM(self.Cert))
	return w, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld != nil {
		os.RemoveAll(theWorld.dir)
	}
	os.Exit(code)
}

// input turns a probe's observation into the evaluation input, verifying
// the chain against the system roots at the fixed clock.
func (w *world) input(server, nextHop, mx string) mtapolicy.Input {
	obs := w.obs[server]
	in := mtapolicy.Input{NextHop: nextHop, MXHost: mx, STARTTLS: obs.SMTP.StartTLS, TLSVersion: obs.TLSVersion, Chain: obs.Chain, Now: now}
	if obs.Err != nil && obs.Err.Phase == "handshake" {
		in.HandshakeError = obs.Err.Error()
	}
	if len(obs.Chain) > 0 {
		inter := x509.NewCertPool()
		for _, c := range obs.Chain[1:] {
			inter.AddCert(c)
		}
		chains, err := obs.Chain[0].Verify(x509.VerifyOptions{Roots: w.system, Intermediates: inter, CurrentTime: now})
		if err != nil {
			in.ChainError = err.Error()
		} else {
			in.Path = chains[0]
		}
	}
	return in
}

type pfCase struct {
	name    string
	policy  string // the value of an smtp_tls_policy_maps entry
	server  string
	nextHop string
	mx      string
	config  func(*mtapolicy.PostfixConfig)
	input   func(*mtapolicy.Input)
	want    mtapolicy.Outcome
	clear   bool
	rule    []string // substrings the rule must contain
}

func TestEvaluatePostfix(t *testing.T) {
	w := setup(t)
	cases := []pfCase{
		{name: "provider certificate delivers under verify match=hostname", policy: "verify match=hostname", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			want: mtapolicy.Delivers, rule: []string{"Postfix verify: Verified TLS connection", "matches mx1.provider.example", "without DNSSEC"}},
		{name: "provider certificate deferred under secure", policy: "secure", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			want: mtapolicy.Deferred, rule: []string{"Postfix secure: Server certificate not verified: no name in the certificate matches nexthop:dot-nexthop (contoso.example, .contoso.example)", "mx1.provider.example, *.provider.example"}},
		{name: "secure with the provider's suffix as match delivers", policy: "secure match=.provider.example", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			want: mtapolicy.Delivers, rule: []string{"matches .provider.example"}},
		{name: "verify says when the MX answer was DNSSEC-secure", policy: "verify", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			input: func(in *mtapolicy.Input) { in.MXSecure = true }, want: mtapolicy.Delivers, rule: []string{"DNSSEC-secure answer"}},
		{name: "secure matches the partner's own domain", policy: "secure match=nexthop:dot-nexthop", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Delivers, rule: []string{"certificate name mx.partner.example matches .partner.example"}},
		{name: "private chain untrusted by the system roots is deferred under secure", policy: "secure", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Deferred, rule: []string{"Server certificate not trusted", "(the audit's trust store)"}},
		{name: "a CAfile in main.cf is named, not pretended", policy: "secure", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			config: func(c *mtapolicy.PostfixConfig) { c.CAfile = "/etc/postfix/tls/ca-bundle.pem" },
			want:   mtapolicy.Deferred, rule: []string{"Postfix trusts /etc/postfix/tls/ca-bundle.pem: audit with those roots"}},
		{name: "tafile with the private intermediate as anchor delivers", policy: "secure match=nexthop:dot-nexthop tafile=partner-issuing-ca.pem", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Delivers, rule: []string{"trusted by tafile= partner-issuing-ca.pem", "Partner Issuing CA"}},
		{name: "tafile anchors are not checked for expiry", policy: "verify tafile=partner-old-ca.pem", server: "privateOld", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Delivers, rule: []string{"Partner Old Issuing CA"}},
		{name: "the same expired intermediate fails without tafile", policy: "verify", server: "privateOld", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Deferred, rule: []string{"Server certificate not trusted"}},
		{name: "tafile with a bare public key of the private root delivers", policy: "verify tafile=partner-root-key.pem", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Delivers, rule: []string{"trust-anchor public key"}},
		{name: "tafile holding the self-signed leaf itself", policy: "secure match=mx.selfsigned.example tafile=self.pem", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			want: mtapolicy.Delivers, rule: []string{"chain certificate 1 (CN=mx.selfsigned.example) is a trust anchor"}},
		{name: "tafile does not excuse an expired leaf", policy: "verify tafile=partner-issuing-ca.pem", server: "expired", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Deferred, rule: []string{"certificate has expired: CN=mx.partner.example"}},
		{name: "tafile with an unrelated anchor", policy: "verify tafile=unrelated.pem", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Deferred, rule: []string{"no trust anchor of the tafile"}},
		{name: "tafile replaces the CA file: a publicly trusted chain fails", policy: "secure tafile=partner-issuing-ca.pem", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			want: mtapolicy.Deferred, rule: []string{"unable to get local issuer certificate", "replaces the CA file"}},
		{name: "main.cf smtp_tls_trust_anchor_file applies when the entry has none", policy: "verify", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			config: func(c *mtapolicy.PostfixConfig) { c.TrustAnchorFiles = []string{"partner-issuing-ca.pem"} }, want: mtapolicy.Delivers, rule: []string{"smtp_tls_trust_anchor_file"}},
		{name: "fingerprint of the old key is deferred after a key rotation", policy: "fingerprint match=" + w.fpOldKey, server: "rotated", nextHop: "pinned.example", mx: "mx.pinned.example",
			want: mtapolicy.Deferred, rule: []string{"Server certificate not verified", "public-key fingerprint", "key changed"}},
		{name: "fingerprint of the key survives a renewal with the same key", policy: "fingerprint match=" + w.fpOldKey, server: "renewed", nextHop: "pinned.example", mx: "mx.pinned.example",
			want: mtapolicy.Delivers, rule: []string{"public-key fingerprint " + w.fpOldKey}},
		{name: "fingerprint of the certificate, lower case without colons, among several", policy: "fingerprint match=00:11|" + strings.ToLower(strings.ReplaceAll(w.fpOldCert, ":", "")), server: "pinnedV1", nextHop: "pinned.example", mx: "mx.pinned.example",
			want: mtapolicy.Delivers, rule: []string{"certificate fingerprint " + w.fpOldCert}},
		{name: "sha256 fingerprints with the md5 default of compatibility_level 2", policy: "fingerprint match=" + w.fpOldKey, server: "pinnedV1", nextHop: "pinned.example", mx: "mx.pinned.example",
			config: func(c *mtapolicy.PostfixConfig) { c.FingerprintDigest, c.MainCF = "md5", "main.cf" }, want: mtapolicy.Deferred, rule: []string{"lists sha256 digests but smtp_tls_fingerprint_digest is md5", "compatibility_level 3.6"}},
		{name: "md5 fingerprint with smtp_tls_fingerprint_digest md5", policy: "fingerprint match=" + w.fpOldKeyMD, server: "pinnedV1", nextHop: "pinned.example", mx: "mx.pinned.example",
			config: func(c *mtapolicy.PostfixConfig) { c.FingerprintDigest = "md5" }, want: mtapolicy.Delivers, rule: []string{"md5 public-key fingerprint"}},
		{name: "encrypt partner with a self-signed certificate", policy: "encrypt", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			want: mtapolicy.DeliversUnauthenticated, rule: []string{"Postfix encrypt: mandatory TLS encryption"}},
		{name: "encrypt without STARTTLS is deferred", policy: "encrypt", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			want: mtapolicy.Deferred, rule: []string{"TLS is required, but was not offered by host mx.plain.example"}},
		{name: "may without STARTTLS delivers in clear", policy: "may", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			want: mtapolicy.DeliversUnauthenticated, clear: true, rule: []string{"delivers in clear text"}},
		{name: "may retries in clear after a failed handshake", policy: "may", server: "reset", nextHop: "reset.example", mx: "mx.reset.example",
			want: mtapolicy.DeliversUnauthenticated, clear: true, rule: []string{"Postfix may: Cannot start TLS: handshake failure (handshake: ", "retries the delivery in clear text"}},
		{name: "encrypt defers after a failed handshake", policy: "encrypt", server: "reset", nextHop: "reset.example", mx: "mx.reset.example",
			want: mtapolicy.Deferred, rule: []string{"Postfix encrypt: Cannot start TLS: handshake failure"}},
		{name: "none delivers in clear", policy: "none", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			want: mtapolicy.DeliversUnauthenticated, clear: true, rule: []string{"TLS is disabled"}},
		{name: "protocols= leaving only TLSv1.3 against a TLSv1.2 server", policy: "encrypt protocols=TLSv1.3", server: "tls12", nextHop: "contoso.example", mx: "mx1.provider.example",
			want: mtapolicy.Deferred, rule: []string{"negotiated TLSv1.2", "protocols= TLSv1.3 allows only TLSv1.3"}},
		{name: "protocols= excluding TLSv1.3 falls back to TLSv1.2", policy: "encrypt protocols=!TLSv1.3", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			want: mtapolicy.DeliversUnauthenticated, rule: []string{"assuming the server also accepts TLSv1.2"}},
		{name: "protocols= against the versions the server is known to accept", policy: "encrypt protocols=>=TLSv1.3", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			input: func(in *mtapolicy.Input) { in.TLSVersions = []uint16{tls.VersionTLS11, tls.VersionTLS12} }, want: mtapolicy.Deferred, rule: []string{"the server accepts TLSv1.1, TLSv1.2"}},
		{name: "dane with an insecure MX answer is may", policy: "dane", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			want: mtapolicy.DeliversUnauthenticated, rule: []string{"non DNSSEC destination", "effective may"}},
		{name: "dane-only with an insecure MX answer is deferred", policy: "dane-only", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			want: mtapolicy.Deferred, rule: []string{"Postfix dane-only: non DNSSEC destination"}},
		{name: "dane with matching TLSA delivers", policy: "dane", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			input: func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSAValid }, want: mtapolicy.Delivers, rule: []string{"a TLSA record of mx.selfsigned.example matches"}},
		{name: "dane with TLSA that match nothing is deferred", policy: "dane", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			input: func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSAMismatch }, want: mtapolicy.Deferred, rule: []string{"no TLSA record"}},
		{name: "dane with unusable TLSA is encrypt", policy: "dane", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			input: func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSAUnusable }, want: mtapolicy.Deferred, rule: []string{"TLSA records unusable", "effective encrypt", "not offered"}},
		{name: "dane-only without TLSA records is deferred", policy: "dane-only", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			input: func(in *mtapolicy.Input) { in.MXSecure = true }, want: mtapolicy.Deferred, rule: []string{"no TLSA records found"}},
		{name: "dane with a bogus answer is deferred", policy: "dane", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			input: func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSABogus }, want: mtapolicy.Deferred, rule: []string{"bogus"}},
		{name: "dane with DNSSEC lookups off in main.cf is may", policy: "dane", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			config: func(c *mtapolicy.PostfixConfig) { c.MainCF, c.DNSSupportLevel = "main.cf", "enabled" },
			input:  func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSAMismatch }, want: mtapolicy.DeliversUnauthenticated, rule: []string{"dnssec lookups disabled"}},
		{name: "an entry Postfix rejects defers the mail", policy: "encrypt match=hostname", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			want: mtapolicy.Deferred, rule: []string{"4.7.5 client TLS configuration problem", `attribute "match" invalid at security level "encrypt"`}},
		{name: "a failure older than maximal_queue_lifetime bounces", policy: "secure", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			input: func(in *mtapolicy.Input) { in.FailingFor = day(6) }, want: mtapolicy.Bounces, rule: []string{"longer than maximal_queue_lifetime (5d)"}},
		{name: "verify accepts a revoked certificate and says so", policy: "verify", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			input: func(in *mtapolicy.Input) { in.Revocation = mtapolicy.RevocationRevoked }, want: mtapolicy.Delivers, rule: []string{"checks no CRL or OCSP"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := postfix.ParsePolicy(tc.policy).PostfixPolicy
			p.Key, p.File, p.Line = tc.nextHop, "tls_policy", 7
			cfg := mtapolicy.DefaultPostfixConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			if len(p.TAFiles) > 0 {
				p.Anchors = must(mtapolicy.LoadAnchors(w.dir, p.TAFiles))
			}
			if len(cfg.TrustAnchorFiles) > 0 {
				cfg.Anchors = must(mtapolicy.LoadAnchors(w.dir, cfg.TrustAnchorFiles))
			}
			in := w.input(tc.server, tc.nextHop, tc.mx)
			if tc.input != nil {
				tc.input(&in)
			}
			d := mtapolicy.EvaluatePostfix(p, cfg, in)
			check(t, d, tc.want, tc.clear, tc.rule)
			if d.Source != "tls_policy:7" || d.MTA != "Postfix" {
				t.Errorf("source %q, MTA %q", d.Source, d.MTA)
			}
		})
	}
}

func check(t *testing.T, d mtapolicy.Decision, want mtapolicy.Outcome, clear bool, rule []string) {
	t.Helper()
	if d.Outcome != want {
		t.Errorf("outcome %s, want %s\n%s", d.Outcome, want, d)
	}
	if d.Clear != clear {
		t.Errorf("clear %v, want %v\n%s", d.Clear, clear, d)
	}
	for _, s := range rule {
		if !strings.Contains(d.Rule, s) {
			t.Errorf("rule does not say %q:\n%s", s, d.Rule)
		}
	}
	if (d.Outcome == mtapolicy.Deferred || d.Outcome == mtapolicy.Bounces) != (d.Retry > 0) {
		t.Errorf("retry %s with outcome %s", d.Retry, d.Outcome)
	}
}

func TestWhatIf(t *testing.T) {
	w := setup(t)
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig(), PolicyMap: &mtapolicy.PolicyMap{}, HasPostfix: true}
	m.PolicyMap.Add(postfix.ParsePolicy("encrypt").PostfixPolicy)
	m.PolicyMap.Entries[0].Key = "contoso.example"
	m.PolicyMap = rebuild(m.PolicyMap)
	in := w.input("provider", "", "mx1.provider.example")
	cases := []struct {
		name  string
		level mtapolicy.Level
		want  mtapolicy.Outcome
	}{
		{"as configured (encrypt)", mtapolicy.LevelEncrypt, mtapolicy.DeliversUnauthenticated},
		{"as if verify", mtapolicy.LevelVerify, mtapolicy.Delivers},
		{"as if secure", mtapolicy.LevelSecure, mtapolicy.Deferred},
		{"as if may", mtapolicy.LevelMay, mtapolicy.DeliversUnauthenticated},
	}
	got := m.Evaluate("contoso.example", in)
	if len(got) != 1 || got[0].Outcome != mtapolicy.DeliversUnauthenticated || got[0].Policy != "encrypt" {
		t.Fatalf("Evaluate = %v", got)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := m.WhatIfPostfix("contoso.example", tc.level, in)
			if d.Outcome != tc.want || !strings.HasPrefix(d.Policy, tc.level.String()) {
				t.Errorf("%s: %s", tc.level, d)
			}
		})
	}
	// A fingerprint entry keeps its digests only at the fingerprint level.
	fp := postfix.ParsePolicy("fingerprint match=AA:BB").PostfixPolicy
	if got := fp.As(mtapolicy.LevelSecure); got.Match != nil || got.Level != mtapolicy.LevelSecure {
		t.Errorf("fingerprint as secure = %+v", got)
	}
	sec := postfix.ParsePolicy("secure match=.example.com tafile=/x.pem").PostfixPolicy
	if got := sec.As(mtapolicy.LevelVerify); len(got.Match) != 1 || len(got.TAFiles) != 1 {
		t.Errorf("secure as verify lost match or tafile: %+v", got)
	}
	if got := sec.As(mtapolicy.LevelEncrypt); got.Match != nil || got.TAFiles != nil {
		t.Errorf("secure as encrypt kept match or tafile: %+v", got)
	}
}

// rebuild re-adds entries so the index sees keys set after Add.
func rebuild(m *mtapolicy.PolicyMap) *mtapolicy.PolicyMap {
	n := &mtapolicy.PolicyMap{}
	for _, e := range m.Entries {
		n.Add(e)
	}
	return n
}

func TestPolicyMapLookup(t *testing.T) {
	m := &mtapolicy.PolicyMap{}
	for _, k := range []string{"example.com", ".example.com", "[mx.example.net]:587", "[mx.example.net]", "Example.ORG"} {
		m.Add(mtapolicy.PostfixPolicy{Key: k})
	}
	if m.Add(mtapolicy.PostfixPolicy{Key: "EXAMPLE.COM"}) {
		t.Error("a duplicate key (case-insensitive) was added")
	}
	cases := []struct{ dest, want string }{
		{"example.com", "example.com"},
		{"mail.example.com", ".example.com"},
		{"a.b.example.com", ".example.com"},
		{"[mx.example.net]:587", "[mx.example.net]:587"},
		{"[mx.example.net]", "[mx.example.net]"},
		{"[mx.example.net]:2525", ""},
		{"[sub.example.com]", ""}, // bracketed destinations never fall back to parent domains
		{"example.org.", "Example.ORG"},
		{"other.test", ""},
	}
	for _, tc := range cases {
		t.Run(tc.dest, func(t *testing.T) {
			p, ok := m.Lookup(tc.dest)
			if ok != (tc.want != "") || p.Key != tc.want {
				t.Errorf("Lookup(%q) = %q, %v; want %q", tc.dest, p.Key, ok, tc.want)
			}
		})
	}
	if got := mtapolicy.NextHopName("[mx.example.net]:587"); got != "mx.example.net" {
		t.Errorf("NextHopName = %q", got)
	}
}

type exCase struct {
	name         string
	rule         mtapolicy.ExchangeRule
	domainSecure bool
	server       string
	nextHop, mx  string
	input        func(*mtapolicy.Input)
	want         mtapolicy.Outcome
	clear        bool
	says         []string
}

func TestEvaluateExchange(t *testing.T) {
	w := setup(t)
	send := func(mod func(*mtapolicy.ExchangeRule)) mtapolicy.ExchangeRule {
		r := mtapolicy.ExchangeRule{Connector: "Partners", AddressSpaces: []string{"*"}, DNSRouting: true, File: "send.csv", Line: 3}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	online := func(mod func(*mtapolicy.ExchangeRule)) mtapolicy.ExchangeRule {
		r := mtapolicy.ExchangeRule{Online: true, Connector: "To partners", AddressSpaces: []string{"contoso.example"}, DNSRouting: true, File: "outbound.csv", Line: 2}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	good := func(in *mtapolicy.Input) { in.Revocation = mtapolicy.RevocationGood }
	cases := []exCase{
		{name: "DomainValidation with TlsDomain *.provider.example delivers", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			rule: send(func(r *mtapolicy.ExchangeRule) {
				r.RequireTLS, r.TLSAuth, r.TLSDomain = true, mtapolicy.DomainValidation, "*.provider.example"
			}),
			input: good, want: mtapolicy.Delivers, says: []string{"matches TlsDomain *.provider.example", "not revoked"}},
		{name: "DomainValidation without TlsDomain compares the recipient domain", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			rule:  send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS, r.TLSAuth = true, mtapolicy.DomainValidation }),
			input: good, want: mtapolicy.Deferred, says: []string{"does not match the recipient domain (TlsDomain is empty) contoso.example"}},
		{name: "CertificateValidation of an untrusted private chain", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			rule: send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS, r.TLSAuth = true, mtapolicy.CertificateValidation }),
			want: mtapolicy.Deferred, says: []string{"CertificateValidation: certificate validation failed", "unknown authority"}},
		{name: "CertificateValidation with the CRL unreachable", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			rule:  send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS, r.TLSAuth = true, mtapolicy.CertificateValidation }),
			input: func(in *mtapolicy.Input) { in.Revocation = mtapolicy.RevocationUnknown }, want: mtapolicy.Deferred, says: []string{"RevocationStatusUnknown"}},
		{name: "CertificateValidation with a revoked certificate", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			rule:  send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS, r.TLSAuth = true, mtapolicy.CertificateValidation }),
			input: func(in *mtapolicy.Input) { in.Revocation = mtapolicy.RevocationRevoked }, want: mtapolicy.Deferred, says: []string{"revoked (Revoked)"}},
		{name: "CertificateValidation without a revocation check says so", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			rule: send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS, r.TLSAuth = true, mtapolicy.CertificateValidation }),
			want: mtapolicy.Delivers, says: []string{"revocation was not checked by the audit"}},
		{name: "EncryptionOnly with a self-signed certificate", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			rule: send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS, r.TLSAuth = true, mtapolicy.EncryptionOnly }),
			want: mtapolicy.DeliversUnauthenticated, says: []string{"EncryptionOnly: TLS encrypts the channel"}},
		{name: "RequireTLS without STARTTLS", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			rule: send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS = true }), want: mtapolicy.Deferred, says: []string{"does not offer STARTTLS"}},
		{name: "opportunistic TLS without STARTTLS goes in clear", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			rule: send(nil), want: mtapolicy.DeliversUnauthenticated, clear: true, says: []string{"clear text"}},
		{name: "opportunistic TLS after a failed handshake is queued", server: "reset", nextHop: "reset.example", mx: "mx.reset.example",
			rule: send(nil), want: mtapolicy.Deferred, says: []string{"TLS negotiation failed (handshake: "}},
		{name: "IgnoreSTARTTLS goes in clear", server: "partner", nextHop: "partner.example", mx: "mx.partner.example",
			rule: send(func(r *mtapolicy.ExchangeRule) { r.IgnoreSTARTTLS = true }), want: mtapolicy.DeliversUnauthenticated, clear: true, says: []string{"IgnoreSTARTTLS"}},
		{name: "Domain Security: the provider's certificate lacks the partner's domain", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example", domainSecure: true,
			rule:  send(func(r *mtapolicy.ExchangeRule) { r.DomainSecure = true }),
			input: good, want: mtapolicy.Deferred, says: []string{"Exchange Server: Domain Security: the certificate does not contain the domain contoso.example, event 11015"}},
		{name: "Domain Security with the partner's domain in the certificate", server: "partner", nextHop: "partner.example", mx: "mx.partner.example", domainSecure: true,
			rule:  send(func(r *mtapolicy.ExchangeRule) { r.DomainSecure = true }),
			input: good, want: mtapolicy.Delivers, says: []string{"contains the domain partner.example"}},
		{name: "Domain Security listed but not enabled on the connector", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example", domainSecure: true,
			rule: send(nil), want: mtapolicy.DeliversUnauthenticated, says: []string{"DomainSecureEnabled $false, so Domain Security does not apply"}},
		{name: "Exchange Server bounces after MessageExpirationTimeout", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			rule:  send(func(r *mtapolicy.ExchangeRule) { r.RequireTLS = true }),
			input: func(in *mtapolicy.Input) { in.FailingFor = day(3) }, want: mtapolicy.Bounces, says: []string{"MessageExpirationTimeout (2d)"}},
		{name: "Exchange Online DANE mismatch", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			rule:  online(nil),
			input: func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSAMismatch }, want: mtapolicy.Deferred, says: []string{"5.7.323 tlsa-invalid"}},
		{name: "Exchange Online DANE match authenticates", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			rule:  online(nil),
			input: func(in *mtapolicy.Input) { in.MXSecure, in.TLSA = true, mtapolicy.TLSAValid }, want: mtapolicy.Delivers, says: []string{"DANE (SmtpDaneMode Opportunistic)"}},
		{name: "Exchange Online SmtpDaneMode Mandatory with an insecure MX", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			rule: online(func(r *mtapolicy.ExchangeRule) { r.DaneMode = "Mandatory" }), want: mtapolicy.Deferred, says: []string{"not DNSSEC-secure"}},
		{name: "Exchange Online bogus DNSSEC", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			rule: online(nil), input: func(in *mtapolicy.Input) { in.TLSA = mtapolicy.TLSABogus }, want: mtapolicy.Deferred, says: []string{"5.7.324 dnssec-invalid"}},
		{name: "Exchange Online DomainValidation host mismatch", server: "provider", nextHop: "contoso.example", mx: "mx1.provider.example",
			rule: online(func(r *mtapolicy.ExchangeRule) {
				r.TLSAuth, r.RequireTLS, r.TLSDomain = mtapolicy.DomainValidation, true, "contoso.example"
			}),
			input: good, want: mtapolicy.Deferred, says: []string{"4.7.325 certificate-host-mismatch"}},
		{name: "Exchange Online CertificateValidation of a private chain", server: "private", nextHop: "partner.example", mx: "mx.partner.example",
			rule: online(func(r *mtapolicy.ExchangeRule) { r.TLSAuth, r.RequireTLS = mtapolicy.CertificateValidation, true }), want: mtapolicy.Deferred, says: []string{"450 4.7.320"}},
		{name: "Exchange Online default route is opportunistic", server: "self", nextHop: "selfsigned.example", mx: "mx.selfsigned.example",
			rule: mtapolicy.ExchangeRule{Online: true, DNSRouting: true}, want: mtapolicy.DeliversUnauthenticated, says: []string{"opportunistic TLS"}},
		{name: "Exchange Online bounces after 24 hours", server: "plain", nextHop: "plain.example", mx: "mx.plain.example",
			rule:  online(func(r *mtapolicy.ExchangeRule) { r.TLSAuth, r.RequireTLS = mtapolicy.EncryptionOnly, true }),
			input: func(in *mtapolicy.Input) { in.FailingFor = 25 * time.Hour }, want: mtapolicy.Bounces, says: []string{"4.7.321 starttls-not-supported", "24-hour"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := w.input(tc.server, tc.nextHop, tc.mx)
			if tc.input != nil {
				tc.input(&in)
			}
			d := mtapolicy.EvaluateExchange(tc.rule, tc.domainSecure, in)
			check(t, d, tc.want, tc.clear, tc.says)
			if tc.rule.Connector != "" && d.Source != tc.rule.Where() {
				t.Errorf("source %q", d.Source)
			}
		})
	}
}

func TestExchangeRoute(t *testing.T) {
	c := mtapolicy.ExchangeConfig{
		Connectors: []mtapolicy.ExchangeRule{
			{Connector: "Internet", AddressSpaces: []string{"*"}, Costs: []int{1}},
			{Connector: "Contoso subdomains", AddressSpaces: []string{"*.contoso.com"}, Costs: []int{1}},
			{Connector: "Contoso", AddressSpaces: []string{"contoso.com"}, Costs: []int{5}},
			{Connector: "Contoso backup", AddressSpaces: []string{"contoso.com"}, Costs: []int{10}},
		},
		DomainSecureList: []string{"Contoso.com"},
	}
	cases := []struct{ domain, want string }{
		{"contoso.com", "Contoso"},
		{"mail.contoso.com", "Contoso subdomains"},
		{"fabrikam.com", "Internet"},
	}
	for _, tc := range cases {
		t.Run(tc.domain, func(t *testing.T) {
			r, ok := c.Route(tc.domain)
			if !ok || r.Connector != tc.want {
				t.Errorf("Route(%q) = %q, %v; want %q", tc.domain, r.Connector, ok, tc.want)
			}
		})
	}
	if !c.DomainSecured("contoso.com") || c.DomainSecured("mail.contoso.com") {
		t.Error("TLSSendDomainSecureList matching is exact and case-insensitive")
	}
	if _, ok := (mtapolicy.ExchangeConfig{}).Route("x.example"); ok {
		t.Error("Exchange Server without connectors has a route")
	}
	if r, ok := (mtapolicy.ExchangeConfig{Online: true}).Route("x.example"); !ok || r.Connector != "" || !r.Online {
		t.Error("Exchange Online without connectors has no default route")
	}
}

func TestMTALoadAnchors(t *testing.T) {
	w := setup(t)
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig(), PolicyMap: &mtapolicy.PolicyMap{}, HasPostfix: true}
	m.Postfix.TrustAnchorFiles = []string{"/ta/unrelated.pem"}
	for key, value := range map[string]string{"partner.example": "secure tafile=/ta/partner-issuing-ca.pem", "gone.example": "verify tafile=/ta/missing.pem"} {
		p := postfix.ParsePolicy(value).PostfixPolicy
		p.Key, p.File, p.Line = key, "tls_policy", 1
		m.PolicyMap.Add(p)
	}
	root := t.TempDir()
	if err := os.Symlink(w.dir, filepath.Join(root, "ta")); err != nil {
		t.Fatal(err)
	}
	errs := m.LoadAnchors(root)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "tls_policy:1: tafile: open") || !strings.Contains(errs[0].Error(), "missing.pem") {
		t.Errorf("errors %v", errs)
	}
	in := w.input("private", "", "mx.partner.example")
	cases := []struct {
		dest string
		want mtapolicy.Outcome
	}{
		{"partner.example", mtapolicy.Delivers},
		{"gone.example", mtapolicy.Undetermined},
	}
	for _, tc := range cases {
		in.NextHop = ""
		if d := m.Evaluate(tc.dest, in)[0]; d.Outcome != tc.want {
			t.Errorf("%s: %s", tc.dest, d)
		}
	}
	// A destination without an entry, as if at verify: main.cf's tafile decides.
	if d := m.WhatIfPostfix("other.example", mtapolicy.LevelVerify, in); d.Outcome != mtapolicy.Deferred || !strings.Contains(d.Rule, "smtp_tls_trust_anchor_file") {
		t.Errorf("main.cf tafile: %s", d)
	}
}

func TestWhatIfExchange(t *testing.T) {
	w := setup(t)
	m := &mtapolicy.MTA{HasServer: true, Server: mtapolicy.ExchangeConfig{Connectors: []mtapolicy.ExchangeRule{
		{Connector: "Internet", AddressSpaces: []string{"*"}, DNSRouting: true},
	}}}
	in := w.input("provider", "contoso.example", "mx1.provider.example")
	in.Revocation = mtapolicy.RevocationGood
	cases := []struct {
		name string
		auth mtapolicy.TLSAuth
		want mtapolicy.Outcome
	}{
		{"as configured (opportunistic)", mtapolicy.TLSAuthNone, mtapolicy.DeliversUnauthenticated},
		{"as if EncryptionOnly", mtapolicy.EncryptionOnly, mtapolicy.DeliversUnauthenticated},
		{"as if CertificateValidation", mtapolicy.CertificateValidation, mtapolicy.Delivers},
		{"as if DomainValidation (recipient domain)", mtapolicy.DomainValidation, mtapolicy.Deferred},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := m.WhatIfExchange("contoso.example", tc.auth, in)
			if d.Outcome != tc.want || !strings.Contains(d.Policy, string(tc.auth)) {
				t.Errorf("%s", d)
			}
		})
	}
	if got := m.Evaluate("contoso.example", in); len(got) != 1 || got[0].Outcome != mtapolicy.DeliversUnauthenticated {
		t.Errorf("Evaluate = %v", got)
	}
}

// BenchmarkEvaluate decides one target under Postfix secure (names), a
// tafile entry and an Exchange DomainValidation connector.
func BenchmarkEvaluate(b *testing.B) {
	w, err := build()
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(w.dir)
	cfg := mtapolicy.DefaultPostfixConfig()
	secure := postfix.ParsePolicy("secure match=nexthop:dot-nexthop:.provider.example").PostfixPolicy
	ta := postfix.ParsePolicy("secure tafile=partner-issuing-ca.pem").PostfixPolicy
	ta.Anchors = must(mtapolicy.LoadAnchors(w.dir, ta.TAFiles))
	rule := mtapolicy.ExchangeRule{Connector: "P", RequireTLS: true, TLSAuth: mtapolicy.DomainValidation, TLSDomain: "*.provider.example", DNSRouting: true}
	in := w.input("provider", "contoso.example", "mx1.provider.example")
	priv := w.input("private", "partner.example", "mx.partner.example")
	for b.Loop() {
		if mtapolicy.EvaluatePostfix(secure, cfg, in).Outcome != mtapolicy.Delivers ||
			mtapolicy.EvaluatePostfix(ta, cfg, priv).Outcome != mtapolicy.Delivers ||
			mtapolicy.EvaluateExchange(rule, false, in).Outcome != mtapolicy.Delivers {
			b.Fatal("unexpected outcome")
		}
	}
}
