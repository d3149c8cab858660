package builtin_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/checks/builtin"
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
	if err := h.Check(context.Background(), res, checks.Selection{Only: names}, cfg); err != nil {
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
	runGraded(t, check, cfg, nil, cases)
}

// runGraded is runTable for a run graded by th (nil: one that records none, the defaults).
func runGraded(t *testing.T, check string, cfg checks.Config, th *audit.Thresholds, cases []tcase) {
	t.Helper()
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now, Thresholds: th}
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

// TestExpiry: a certificate expiring soon is graded by the run's
// thresholds, which reach the plugin over the wire; an expired one is the
// Expired verdict and no expiry finding.
func TestExpiry(t *testing.T) {
	leaf := func(d time.Duration) audit.Result {
		return chain(cert("CN=mx.test", "CN=CA", now.Add(d)), cert("CN=CA", "CN=Root", now.AddDate(3, 0, 0)))
	}
	day := 24 * time.Hour
	runTable(t, "expiry", nil, []tcase{
		{"31 days left", leaf(31 * day), nil},
		{"30 days 1h left", leaf(30*day + time.Hour), []want{{audit.Warning, "30 days left"}}},
		{"exactly 30 days", leaf(30 * day), []want{{audit.Warning, "leaf certificate CN=mx.test expires on 2026-03-31 (30 days left)"}}},
		{"8 days", leaf(8 * day), []want{{audit.Warning, "8 days left"}}},
		{"exactly 7 days", leaf(7 * day), []want{{audit.Error, "7 days left"}}},
		{"one hour", leaf(time.Hour), []want{{audit.Error, "less than a day left"}}},
		{"expiring this very second", leaf(0), []want{{audit.Error, "less than a day left"}}},
		{"expired a second ago is the Expired verdict", leaf(-time.Second), nil},
		{"expired yesterday", leaf(-day), nil},
		{"expired enforced", enforced(leaf(-day)), nil},
		{"intermediate expiring", chain(cert("CN=mx.test", "CN=CA", now.AddDate(1, 0, 0)), cert("CN=CA", "CN=Root", now.Add(3*day))),
			[]want{{audit.Error, "intermediate 1 certificate CN=CA expires"}}},
		{"sent root expiring is ignored", chain(cert("CN=mx.test", "CN=Root", now.AddDate(1, 0, 0)), cert("CN=Root", "CN=Root", now.Add(day))), nil},
		{"no chain", audit.Result{}, nil},
	})
	t.Run("thresholds 60 and 14", func(t *testing.T) {
		th := audit.DefaultThresholds()
		th.ExpiryWarningDays, th.ExpiryErrorDays = 60, 14
		runGraded(t, "expiry", nil, &th, []tcase{
			{"61 days", leaf(61 * day), nil},
			{"45 days", leaf(45 * day), []want{{audit.Warning, "45 days left"}}},
			{"10 days", leaf(10 * day), []want{{audit.Error, "10 days left"}}},
		})
	})
	t.Run("error window 0", func(t *testing.T) {
		th := audit.DefaultThresholds()
		th.ExpiryErrorDays = 0
		runGraded(t, "expiry", nil, &th, []tcase{
			{"one day", leaf(day), []want{{audit.Warning, "1 day left"}}},
			{"one hour", leaf(time.Hour), []want{{audit.Error, "less than a day left"}}},
		})
	})
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

// TestPrivateRoot: the check grades a root as the lifecycle does
// (audit.Thresholds.RootStatus) under the run's root_expiring_days.
func TestPrivateRoot(t *testing.T) {
	root := func(subject string, d time.Duration, used, declared []string) audit.PrivateRoot {
		return audit.PrivateRoot{File: strings.ToLower(subject) + ".cer", Subject: "CN=" + subject, NotAfter: now.Add(d), UsedBy: used, DeclaredBy: declared}
	}
	day := 24 * time.Hour
	used := []string{"p"}
	in30 := audit.DefaultThresholds()
	in30.RootExpiringDays = 30
	tests := []struct {
		name string
		th   *audit.Thresholds
		root audit.PrivateRoot
		want []want
	}{
		{"fine", nil, root("Fine", 91*day, used, nil), nil},
		{"90 days 23h", nil, root("Nearly", 91*day-time.Hour, used, nil), []want{{audit.Warning, "(90 days left)"}}},
		{"90 days", nil, root("Ninety", 90*day, used, nil), []want{{audit.Warning, "private root CN=Ninety (ninety.cer) expires on 2026-05-30 (90 days left)"}}},
		{"10 days", nil, root("Ten", 10*day, used, nil), []want{{audit.Warning, "10 days left"}}},
		{"expired", nil, root("Old", -day, used, nil), []want{{audit.Error, "expired 1 day ago, on 2026-02-28"}}},
		{"expired and unused", nil, root("Gone", -day, nil, nil), []want{{audit.Error, "expired"}}},
		{"unused", nil, root("Spare", 400*day, nil, nil), []want{{audit.Info, "is not used by any partner"}}},
		{"expiring and unused", nil, root("Both", 20*day, nil, nil), []want{{audit.Warning, "20 days left"}, {audit.Info, "is not used by any partner"}}},
		{"declared but unused", nil, root("Moved", 400*day, nil, []string{"acme", "beta"}), []want{{audit.Warning, "declared by acme, beta but no partner's chain ends in it"}}},
		{"root_expiring_days 30, 60 left", &in30, root("Sixty", 60*day, used, nil), nil},
		{"root_expiring_days 30, 20 left", &in30, root("Twenty", 20*day, used, nil), []want{{audit.Warning, "20 days left"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &audit.Results{Started: now, PrivateRoots: []audit.PrivateRoot{tt.root}, Thresholds: tt.th}
			runChecks(t, res, []string{"private-root"}, nil)
			got := res.PrivateRoots[0].Findings
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for j, w := range tt.want {
				if got[j].Severity != w.sev || !strings.Contains(got[j].Message, w.msg) || got[j].Check != "private-root" {
					t.Errorf("finding %d = %+v, want %s containing %q", j, got[j], w.sev, w.msg)
				}
			}
			// The finding and the lifecycle's status say the same.
			st := res.RunThresholds().RootStatus(audit.DaysLeft(tt.root.NotAfter, now), len(tt.root.UsedBy) > 0)
			dated := len(got) > 0 && got[0].Severity != audit.Info && !strings.Contains(got[0].Message, "declared by")
			if audit.Attention(st) != dated {
				t.Errorf("status %s, but the findings %+v say otherwise", st, got)
			}
		})
	}
}

// TestAIA words the completion the revocation stage recorded; the
// PartialChain verdict carries the problem and its remedy.
func TestAIA(t *testing.T) {
	partial := func(c audit.Case, comp *audit.Completion) audit.Result {
		return audit.Result{Verdict: audit.PartialChain, Verdicts: []audit.Verdict{audit.PartialChain},
			Cases: map[audit.Verdict]audit.Case{audit.PartialChain: c}, Completion: comp}
	}
	const inter, root = "CN=Fleet Issuing CA 1", "CN=Contoso Root CA"
	runTable(t, "aia", nil, []tcase{
		{"built from AIA", partial(audit.CaseMissingIntermediate, &audit.Completion{LastSent: "CN=mx.test", Missing: inter, Built: true,
			Fetched: []string{inter}, URLs: []string{"http://pki.test/int.cer"}}),
			[]want{{audit.Warning, "Windows completes the chain by fetching the CA certificate CN=Fleet Issuing CA 1 from http://pki.test/int.cer"}}},
		{"AIA down", partial(audit.CaseMissingIntermediate, &audit.Completion{LastSent: "CN=mx.test", Missing: inter,
			Reason: "http://pki.test/int.cer could not be fetched (connection refused)"}),
			[]want{{audit.Info, "Windows cannot complete the chain from AIA either (the server does not send its intermediate CA certificate (issuer CN=Fleet Issuing CA 1)): http://pki.test/int.cer could not be fetched"}}},
		{"root missing", partial(audit.CaseMissingRoot, &audit.Completion{LastSent: "CN=Contoso Issuing CA", Missing: root,
			Reason: "the certificate names no AIA caIssuers URL"}),
			[]want{{audit.Info, "the issuer of its CA certificate CN=Contoso Issuing CA, most likely the partner's root CA CN=Contoso Root CA"}}},
		{"offline", partial(audit.CaseMissingIntermediate, &audit.Completion{Missing: inter, Offline: true}), []want{{audit.Info, "--offline"}}},
		{"no completion recorded", partial(audit.CaseMissingIntermediate, nil), nil},
		{"not a PartialChain", audit.Result{Completion: &audit.Completion{Built: true}}, nil},
	})
}

// TestOnlyWhatVerdictsDoNotSay: the built-in checks are the ones that add
// to the verdicts; those that restated them are retired.
func TestOnlyWhatVerdictsDoNotSay(t *testing.T) {
	var names []string
	for _, c := range builtin.Checks() {
		names = append(names, c.Info().Name)
		if _, retired := audit.RetiredChecks[c.Info().Name]; retired {
			t.Errorf("check %s is retired: its facts are %s", c.Info().Name, audit.RetiredChecks[c.Info().Name])
		}
		if len(c.Info().Config) > 0 && c.Info().Name != "tls-version" {
			t.Errorf("check %s takes settings %+v: a number it grades by belongs in [thresholds]", c.Info().Name, c.Info().Config)
		}
	}
	if got := strings.Join(names, ","); got != "expiry,tls-version,weak-cipher,aia,private-root" {
		t.Errorf("built-in checks %s", got)
	}
}

// TestEveryTarget: a partner with several targets (MX addresses) is
// checked on each of them, not only on its worst target (whose facts the
// partner's own fields hold); a finding on some targets names them, one on
// all of them says so, and a partner with one target reads as before.
func TestEveryTarget(t *testing.T) {
	day := 24 * time.Hour
	expiring := cert("CN=mx.test", "CN=CA", now.Add(10*day))
	fine := cert("CN=mx.test", "CN=CA", now.AddDate(1, 0, 0))
	tgt := func(addr string, v audit.Verdict, version, cipher string, leaf audit.Cert) audit.TargetResult {
		return audit.TargetResult{MX: "mx.test", Address: addr, Port: 25, Family: audit.FamilyOf(addr), TLS: audit.StartTLS,
			Verdict: v, Verdicts: []audit.Verdict{v}, TLSVersion: version, Cipher: cipher, Chain: []audit.Cert{leaf}}
	}
	partner := func(ts ...audit.TargetResult) audit.Result {
		r := audit.Result{Findings: []audit.Finding{}}
		r.SetTargets(ts)
		return r
	}
	const good = "TLS_AES_128_GCM_SHA256"
	// The worst target (Expired) negotiates TLS 1.3 with a good suite; the other one does not.
	expired := tgt("192.0.2.1", audit.Expired, "TLS 1.3", good, fine)
	partial := tgt("192.0.2.2", audit.PartialChain, "TLS 1.0", "TLS_ECDHE_RSA_WITH_RC4_128_SHA", fine)
	partial.Cases = map[audit.Verdict]audit.Case{audit.PartialChain: audit.CaseMissingIntermediate}
	partial.Completion = &audit.Completion{LastSent: "CN=mx.test", Missing: "CN=CA", Built: true, Fetched: []string{"CN=CA"}, URLs: []string{"http://pki.test/ca.cer"}}
	mixed := partner(expired, partial)
	if mixed.TLSVersion != "TLS 1.3" || mixed.Completion != nil {
		t.Fatalf("the partner's own fields are not its worst target's: %+v", mixed)
	}
	const other = "mx.test [192.0.2.2]:25: "
	runTable(t, "tls-version", nil, []tcase{
		{"an old version on the other address", mixed, []want{{audit.Warning, other + "the server negotiated TLS 1.0"}}},
		{"one target", partner(tgt("192.0.2.3", audit.Valid, "TLS 1.1", good, fine)), []want{{audit.Warning, "the server negotiated TLS 1.1"}}},
	})
	runTable(t, "weak-cipher", nil, []tcase{
		{"RC4 on the other address", mixed, []want{{audit.Error, other + "the server chose TLS_ECDHE_RSA_WITH_RC4_128_SHA"}}},
	})
	runTable(t, "aia", nil, []tcase{
		{"completed from AIA on the other address", mixed, []want{{audit.Warning, other + "Windows completes the chain by fetching the CA certificate CN=CA"}}},
	})
	runTable(t, "expiry", nil, []tcase{
		{"expiring on one address", partner(tgt("192.0.2.1", audit.Valid, "TLS 1.3", good, fine), tgt("192.0.2.2", audit.Valid, "TLS 1.3", good, expiring)),
			[]want{{audit.Warning, other + "leaf certificate CN=mx.test expires on 2026-03-11 (10 days left)"}}},
		{"expiring on every address: one finding", partner(tgt("192.0.2.1", audit.Valid, "TLS 1.3", good, expiring), tgt("192.0.2.2", audit.Valid, "TLS 1.3", good, expiring)),
			[]want{{audit.Warning, "all 2 addresses: leaf certificate CN=mx.test expires"}}},
		{"one target", partner(tgt("192.0.2.1", audit.Valid, "TLS 1.3", good, expiring)), []want{{audit.Warning, "leaf certificate CN=mx.test expires"}}},
	})
	// The message of a partner with one target starts as before targets existed.
	res := &audit.Results{Schema: audit.SchemaVersion, Started: now, Partners: []audit.Result{partner(tgt("192.0.2.1", audit.Valid, "TLS 1.3", good, expiring))}}
	res.Partners[0].Name = "single"
	runChecks(t, res, []string{"expiry"}, nil)
	if f := res.Partners[0].Findings; len(f) != 1 || !strings.HasPrefix(f[0].Message, "leaf certificate") {
		t.Errorf("one target: %+v", f)
	}
}
