package builtin_test

import (
	"context"
	"crypto/x509/pkix"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/checks/builtin"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// Every test runs the checks over the real plugin path: the test binary,
// started with MXAUDIT_TEST_PLUGIN=builtin, serves the built-in checks.
func TestMain(m *testing.M) {
	if os.Getenv("MXAUDIT_TEST_PLUGIN") == "builtin" {
		builtin.Serve()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// now is the run's clock in every test.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func builtinCmd() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"MXAUDIT_TEST_PLUGIN=builtin"}
	return cmd
}

// runChecks runs the named built-in checks over res through go-plugin.
func runChecks(t testing.TB, res *audit.Results, names []string, cfg checks.Config) {
	t.Helper()
	h := checks.Open(context.Background(), checks.Options{Builtin: builtinCmd, Logger: slog.New(slog.DiscardHandler)})
	defer h.Close()
	if f := h.Failures(); len(f) > 0 {
		t.Fatalf("built-in plugin failed: %v", f[0].Err)
	}
	if err := h.Run(context.Background(), res, checks.Selection{Only: names}, cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// want is an expected finding: its severity and a part of its message.
type want struct {
	sev audit.Severity
	msg string
}

type tcase struct {
	name string
	r    audit.Result
	want []want
}

// runTable puts every case into one run of check (one partner per case)
// and compares each partner's findings of that check.
func runTable(t *testing.T, check string, cfg checks.Config, cases []tcase) {
	t.Helper()
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now}
	for _, c := range cases {
		r := c.r
		r.Name = c.name
		if r.Verdict == "" {
			r.Verdict, r.Verdicts = audit.Valid, []audit.Verdict{audit.Valid}
		}
		res.Partners = append(res.Partners, r)
	}
	runChecks(t, res, []string{check}, cfg)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []audit.Finding
			for _, f := range res.Partners[i].Findings {
				if f.Check == check {
					got = append(got, f)
				} else {
					t.Errorf("unexpected finding of %s: %+v", f.Check, f)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d findings %+v, want %d %+v", len(got), got, len(c.want), c.want)
			}
			for j, w := range c.want {
				if got[j].Severity != w.sev || !strings.Contains(got[j].Message, w.msg) {
					t.Errorf("finding %d = %s %q, want %s containing %q", j, got[j].Severity, got[j].Message, w.sev, w.msg)
				}
				if got[j].Remedy == "" && w.sev != audit.Info {
					t.Errorf("finding %d has no remedy", j)
				}
			}
		})
	}
}

// cert describes a chain certificate without DER (checks that read the
// model's fields do not parse it).
func cert(subject, issuer string, notAfter time.Time) audit.Cert {
	return audit.Cert{Subject: subject, Issuer: issuer, NotBefore: now.AddDate(-1, 0, 0), NotAfter: notAfter,
		KeyType: "ECDSA", KeyBits: 256, SigAlg: "ECDSA-SHA256"}
}

func chain(cs ...audit.Cert) audit.Result { return audit.Result{Chain: cs} }

func enforced(r audit.Result) audit.Result { r.Enforced = true; return r }

func TestExpiry(t *testing.T) {
	leaf := func(d time.Duration) audit.Result {
		return chain(cert("CN=mx.test", "CN=CA", now.Add(d)), cert("CN=CA", "CN=Root", now.AddDate(3, 0, 0)))
	}
	day := 24 * time.Hour
	runTable(t, "expiry", nil, []tcase{
		{"31 days left", leaf(31 * day), nil},
		{"30 days 1h left", leaf(30*day + time.Hour), nil},
		{"exactly 30 days", leaf(30 * day), []want{{audit.Warning, "leaf certificate CN=mx.test expires on 2026-03-31 (in 30 days)"}}},
		{"8 days", leaf(8 * day), []want{{audit.Warning, "in 8 days"}}},
		{"exactly 7 days", leaf(7 * day), []want{{audit.Error, "in 7 days"}}},
		{"one hour", leaf(time.Hour), []want{{audit.Error, "in 0 days"}}},
		{"expired now", leaf(0), []want{{audit.Error, "expired less than a day ago, on 2026-03-01"}}},
		{"expired yesterday", leaf(-day), []want{{audit.Error, "expired 1 day ago, on 2026-02-28"}}},
		{"expired enforced", enforced(leaf(-day)), []want{{audit.Critical, "expired"}}},
		{"intermediate expiring", chain(cert("CN=mx.test", "CN=CA", now.AddDate(1, 0, 0)), cert("CN=CA", "CN=Root", now.Add(3*day))),
			[]want{{audit.Error, "intermediate 1 certificate CN=CA expires"}}},
		{"sent root expired is ignored", chain(cert("CN=mx.test", "CN=Root", now.AddDate(1, 0, 0)), cert("CN=Root", "CN=Root", now.Add(-day))), nil},
		{"no chain", audit.Result{}, nil},
	})
	t.Run("configured", func(t *testing.T) {
		runTable(t, "expiry", checks.Config{"expiry": {"warning_days": {"60"}, "error_days": {"14"}}}, []tcase{
			{"61 days", leaf(61 * day), nil},
			{"45 days", leaf(45 * day), []want{{audit.Warning, "in 45 days"}}},
			{"10 days", leaf(10 * day), []want{{audit.Error, "in 10 days"}}},
		})
	})
}

func TestWeakKey(t *testing.T) {
	key := func(typ string, bits int) audit.Cert {
		c := cert("CN=mx.test", "CN=CA", now.AddDate(1, 0, 0))
		c.KeyType, c.KeyBits = typ, bits
		return c
	}
	root := key("RSA", 1024)
	root.Subject, root.Issuer = "CN=Root", "CN=Root"
	runTable(t, "weak-key", nil, []tcase{
		{"RSA 1024", chain(key("RSA", 1024)), []want{{audit.Warning, "leaf certificate CN=mx.test has a 1024-bit RSA key (minimum 2048)"}}},
		{"RSA 1024 enforced", enforced(chain(key("RSA", 1024))), []want{{audit.Error, "1024-bit RSA"}}},
		{"RSA 2048", chain(key("RSA", 2048)), nil},
		{"EC 224", chain(key("ECDSA", 224)), []want{{audit.Warning, "224-bit ECDSA key (minimum 256)"}}},
		{"EC 256", chain(key("ECDSA", 256)), nil},
		{"Ed25519", chain(key("Ed25519", 256)), nil},
		{"weak intermediate", chain(key("RSA", 4096), key("RSA", 1024)), []want{{audit.Warning, "intermediate 1"}}},
		{"weak sent root ignored", chain(key("RSA", 2048), root), nil},
	})
	t.Run("configured", func(t *testing.T) {
		runTable(t, "weak-key", checks.Config{"weak-key": {"min_rsa_bits": {"3072"}}}, []tcase{
			{"RSA 2048 under 3072", chain(key("RSA", 2048)), []want{{audit.Warning, "(minimum 3072)"}}},
			{"RSA 3072", chain(key("RSA", 3072)), nil},
		})
	})
}

func TestWeakSignature(t *testing.T) {
	sig := func(alg string) audit.Cert {
		c := cert("CN=mx.test", "CN=CA", now.AddDate(1, 0, 0))
		c.SigAlg = alg
		return c
	}
	root := sig("SHA1-RSA")
	root.Subject, root.Issuer = "CN=Root", "CN=Root"
	runTable(t, "weak-signature", nil, []tcase{
		{"SHA1-RSA", chain(sig("SHA1-RSA")), []want{{audit.Warning, "leaf certificate CN=mx.test is signed with SHA1-RSA"}}},
		{"SHA1 enforced", enforced(chain(sig("ECDSA-SHA1"))), []want{{audit.Error, "ECDSA-SHA1"}}},
		{"MD5-RSA", chain(sig("MD5-RSA")), []want{{audit.Warning, "MD5-RSA"}}},
		{"SHA256-RSA", chain(sig("SHA256-RSA")), nil},
		{"SHA256-RSAPSS", chain(sig("SHA256-RSAPSS")), nil},
		{"sent root SHA1 ignored", chain(sig("SHA256-RSA"), root), nil},
		// Issue 10, item 6: the root's source decides, through the wire (the
		// check runs as a plugin and sees the result's root).
		{"SHA1 under a public root", under(chain(sig("SHA1-RSA")), audit.RootSystem, false), []want{{audit.Error, "under the public root CN=Root (Windows and Go refuse it)"}}},
		{"SHA1 under a public root, enforced", under(chain(sig("SHA1-RSA")), audit.RootSystem, true), []want{{audit.Critical, "public root"}}},
		{"SHA1 under a private root", under(chain(sig("SHA1-RSA")), audit.RootPrivate, false), []want{{audit.Warning, "under the imported private root CN=Root (Windows accepts it"}}},
		{"SHA1 under a private root, enforced", under(chain(sig("SHA1-RSA")), audit.RootPrivate, true), []want{{audit.Warning, "private root"}}},
	})
}

func under(r audit.Result, source string, enforced bool) audit.Result {
	r.Root = audit.Root{Source: source, Subject: "CN=Root"}
	r.Enforced = enforced
	return r
}

func TestTLSVersion(t *testing.T) {
	v := func(s string) audit.Result { return audit.Result{TLSVersion: s} }
	runTable(t, "tls-version", nil, []tcase{
		{"SSLv3", v("SSLv3"), []want{{audit.Warning, "negotiated SSLv3; TLS 1.2 or newer"}}},
		{"TLS 1.0", v("TLS 1.0"), []want{{audit.Warning, "TLS 1.0"}}},
		{"TLS 1.1 enforced", enforced(v("TLS 1.1")), []want{{audit.Error, "TLS 1.1"}}},
		{"TLS 1.2", v("TLS 1.2"), nil},
		{"TLS 1.3", v("TLS 1.3"), nil},
		{"no TLS", v(""), nil},
	})
	t.Run("configured", func(t *testing.T) {
		runTable(t, "tls-version", checks.Config{"tls-version": {"min_version": {"1.3"}}}, []tcase{
			{"TLS 1.2 under 1.3", v("TLS 1.2"), []want{{audit.Warning, "TLS 1.3 or newer"}}},
			{"TLS 1.3", v("TLS 1.3"), nil},
		})
	})
}

func TestWeakCipher(t *testing.T) {
	c := func(s string) audit.Result { return audit.Result{Cipher: s, TLSVersion: "TLS 1.2"} }
	runTable(t, "weak-cipher", nil, []tcase{
		{"RC4", c("TLS_ECDHE_RSA_WITH_RC4_128_SHA"), []want{{audit.Error, "uses RC4"}}},
		{"3DES", c("TLS_RSA_WITH_3DES_EDE_CBC_SHA"), []want{{audit.Error, "uses 3DES"}}},
		{"NULL", c("TLS_RSA_WITH_NULL_SHA256"), []want{{audit.Error, "uses NULL"}}},
		{"anon", c("TLS_DH_anon_WITH_AES_128_CBC_SHA"), []want{{audit.Error, "uses ANON"}}},
		{"static RSA", c("TLS_RSA_WITH_AES_128_GCM_SHA256"), []want{{audit.Warning, "no forward secrecy"}}},
		{"ECDHE GCM", c("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), nil},
		{"TLS 1.3 suite", c("TLS_AES_256_GCM_SHA384"), nil},
		{"none", c(""), nil},
	})
}

func TestVerdict(t *testing.T) {
	v := func(vs ...audit.Verdict) audit.Result {
		return audit.Result{Verdict: audit.Primary(vs), Verdicts: vs}
	}
	detailed := v(audit.NameMismatch)
	detailed.Details = map[audit.Verdict]string{audit.NameMismatch: "the certificate names mx.other.test"}
	runTable(t, "verdict", nil, []tcase{
		{"valid", v(audit.Valid), nil},
		{"untrusted root", v(audit.UntrustedRoot), []want{{audit.Error, "UntrustedRoot"}}},
		{"untrusted root enforced", enforced(v(audit.UntrustedRoot)), []want{{audit.Critical, "UntrustedRoot"}}},
		{"details", detailed, []want{{audit.Error, "NameMismatch: the certificate names mx.other.test"}}},
		{"several", v(audit.PartialChain, audit.NameMismatch), []want{{audit.Error, "PartialChain"}, {audit.Error, "NameMismatch"}}},
		{"owned by other checks", v(audit.Expired, audit.WeakKey, audit.WeakSignature, audit.IssuerChanged), nil},
		{"revocation offline", v(audit.RevocationOffline), []want{{audit.Warning, "RevocationOffline"}}},
	})
}

func TestVerdictRemedy(t *testing.T) {
	res := &audit.Results{Started: now, Partners: []audit.Result{{Verdict: audit.PartialChain, Verdicts: []audit.Verdict{audit.PartialChain}}}}
	runChecks(t, res, []string{"verdict"}, nil)
	if f := res.Partners[0].Findings; len(f) != 1 || f[0].Remedy != audit.PartialChain.Remedy() {
		t.Errorf("findings %+v, want the PartialChain remedy", f)
	}
}

func TestEnforced(t *testing.T) {
	r := func(enf bool, v audit.Verdict, starttls bool) audit.Result {
		return audit.Result{Partner: audit.Partner{Enforced: enf, TLS: audit.StartTLS}, Verdict: v, Verdicts: []audit.Verdict{v},
			SMTP: audit.SMTP{EHLO: []string{"SIZE 10240000"}, StartTLS: starttls}}
	}
	implicit := r(true, audit.Valid, false)
	implicit.TLS = audit.Implicit
	runTable(t, "enforced", nil, []tcase{
		{"enforced valid", r(true, audit.Valid, true), nil},
		{"enforced no STARTTLS", r(true, audit.NoStartTLS, false), []want{{audit.Critical, "does not offer STARTTLS"}}},
		{"enforced partial chain", r(true, audit.PartialChain, true), []want{{audit.Critical, "its TLS is PartialChain"}}},
		{"enforced weak key", r(true, audit.WeakKey, true), []want{{audit.Critical, "WeakKey"}}},
		{"enforced not probed", r(true, audit.NotProbed, false), nil},
		{"not enforced partial chain", r(false, audit.PartialChain, true), nil},
		{"enforced implicit TLS", implicit, nil},
	})
}

// realLeaf returns a leaf issued by a CA named issuer, with DER.
func realLeaf(t *testing.T, issuer pkix.Name, host string) audit.Cert {
	t.Helper()
	ca, err := fleet.NewRoot(fleet.CertSpec{Subject: issuer, NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(fleet.CertSpec{CommonName: host, Org: "Partner", DNSNames: []string{host}, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(1, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return audit.NewCert(leaf.Cert)
}

func TestPin(t *testing.T) {
	leaf := realLeaf(t, pkix.Name{CommonName: "Issuing CA 1", Organization: []string{"Example"}, Country: []string{"US"}}, "mx.partner.test")
	pinned := func(issuer, subject string) audit.Result {
		r := chain(leaf)
		r.ExpectedIssuer, r.ExpectedSubject = issuer, subject
		return r
	}
	const tlsName = "the certificate reads <I>CN=Issuing CA 1, O=Example, C=US<S>CN=mx.partner.test, O=Partner"
	runTable(t, "pin", nil, []tcase{
		{"no pin", pinned("", ""), nil},
		{"issuer matches (Windows spelling)", pinned("CN=Issuing CA 1, O=Example, C=US", ""), nil},
		{"issuer matches (Go spelling, other order)", pinned("C=US,O=Example,CN=Issuing CA 1", ""), nil},
		{"issuer changed", pinned("CN=Issuing CA 2, O=Example, C=US", ""), []want{{audit.Warning, "IssuerChanged: issuer is CN=Issuing CA 1, O=Example, C=US, pinned CN=Issuing CA 2, O=Example, C=US; " + tlsName}}},
		{"issuer changed enforced", enforced(pinned("CN=Issuing CA 2, O=Example, C=US", "")), []want{{audit.Error, tlsName}}},
		{"subject changed", pinned("", "CN=mx.old.test, O=Partner"), []want{{audit.Warning, "IssuerChanged: subject is CN=mx.partner.test, O=Partner"}}},
		{"whole pin matches", pinned("<I>CN=Issuing CA 1, O=Example, C=US<S>CN=mx.partner.test, O=Partner", ""), nil},
		{"whole pin, subject changed", pinned("<I>CN=Issuing CA 1, O=Example, C=US<S>CN=mx.old.test, O=Partner", ""), []want{{audit.Warning, "subject is"}}},
		{"unreadable pin", pinned("CN", ""), []want{{audit.Warning, "the inventory's pin cannot be read"}}},
		{"no chain", audit.Result{Partner: audit.Partner{ExpectedIssuer: "CN=x"}}, nil},
	})
}

func TestPrivateRoot(t *testing.T) {
	root := func(subject string, d time.Duration, used, declared []string) audit.PrivateRoot {
		return audit.PrivateRoot{File: strings.ToLower(subject) + ".cer", Subject: "CN=" + subject, NotAfter: now.Add(d), UsedBy: used, DeclaredBy: declared}
	}
	day := 24 * time.Hour
	used := []string{"p"}
	tests := []struct {
		name string
		cfg  checks.Config
		root audit.PrivateRoot
		want []want
	}{
		{"fine", nil, root("Fine", 91*day, used, nil), nil},
		{"90 days", nil, root("Ninety", 90*day, used, nil), []want{{audit.Warning, "private root CN=Ninety (ninety.cer) expires on 2026-05-30 (in 90 days)"}}},
		{"10 days", nil, root("Ten", 10*day, used, nil), []want{{audit.Warning, "in 10 days"}}},
		{"expired", nil, root("Old", -day, used, nil), []want{{audit.Error, "expired 1 day ago, on 2026-02-28"}}},
		{"expired and unused", nil, root("Gone", -day, nil, nil), []want{{audit.Error, "expired"}}},
		{"unused", nil, root("Spare", 400*day, nil, nil), []want{{audit.Info, "is not used by any partner"}}},
		{"declared but unused", nil, root("Moved", 400*day, nil, []string{"acme", "beta"}), []want{{audit.Warning, "declared by acme, beta but no partner's chain ends in it"}}},
		{"configured 30 days", checks.Config{"private-root": {"expiring_days": {"30"}}}, root("Sixty", 60*day, used, nil), nil},
		{"configured 30 days, 20 left", checks.Config{"private-root": {"expiring_days": {"30"}}}, root("Twenty", 20*day, used, nil), []want{{audit.Warning, "in 20 days"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &audit.Results{Started: now, PrivateRoots: []audit.PrivateRoot{tt.root}}
			runChecks(t, res, []string{"private-root"}, tt.cfg)
			got := res.PrivateRoots[0].Findings
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for j, w := range tt.want {
				if got[j].Severity != w.sev || !strings.Contains(got[j].Message, w.msg) || got[j].Check != "private-root" {
					t.Errorf("finding %d = %+v, want %s containing %q", j, got[j], w.sev, w.msg)
				}
			}
		})
	}
}
