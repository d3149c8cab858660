package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/revocation"
	"github.com/mxaudit/mxaudit/internal/trust"
)

// fleetTrust writes f's roots into a temporary folder and loads them as a
// scan does: roots.pem as the only public roots, private-roots/ as the imported ones.
// startDNSFleet starts a fleet with opts and its DNS server on loopback,
// both stopped when the test ends, and the trust store of its roots.
func startDNSFleet(t *testing.T, opts fleet.Options) (*fleet.Fleet, *fleet.DNSServer, *trust.Store) {
	t.Helper()
	f, err := fleet.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	srv, err := f.ServeDNS(fleet.DNSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f, srv, fleetTrust(t, f)
}

func fleetTrust(t *testing.T, f *fleet.Fleet) *trust.Store {
	t.Helper()
	_, roots, private, err := f.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := trust.New(trust.Options{RootsFile: roots, PrivateDir: private})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestRunFleet(t *testing.T) {
	f, err := fleet.Start(fleet.Options{Hostile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := fleetTrust(t, f)
	pool := tr.Pool
	const deadline = 2 * time.Second
	rev := revocation.NewFetcher(revocation.Options{Timeout: time.Second})
	res := ProbeAll(context.Background(), f.Partners(), Options{
		Inspect:      rev.Inspector(pool, f.Now),
		Probe:        probe.Options{HELO: "audit.test", Timeout: deadline, ConnectTimeout: time.Second},
		Resolver:     f.Resolver,
		Roots:        pool,
		StoreOf:      tr.StoreOf,
		PrivateRoots: tr.PrivateRoots(f.Now),
		Now:          f.Now,
	})
	if res.Incomplete {
		t.Error("complete run marked incomplete")
	}
	if len(res.Partners) != len(f.Scenarios) {
		t.Fatalf("%d results for %d partners", len(res.Partners), len(f.Scenarios))
	}
	for i, sc := range f.Scenarios {
		r := res.Partners[i]
		t.Run(sc.Partner.Name, func(t *testing.T) {
			if r.Name != sc.Partner.Name {
				t.Fatalf("result %d is %q: not in inventory order", i, r.Name)
			}
			if !slices.Equal(r.Verdicts, sc.Expect) {
				t.Errorf("verdicts %v, want %v (details %v, error %q)", r.Verdicts, sc.Expect, r.Details, r.Error)
			}
			if r.Verdict != sc.Expect[0] {
				t.Errorf("primary verdict %s, want %s", r.Verdict, sc.Expect[0])
			}
			if r.Verdict != audit.Valid && r.Remedy == "" {
				t.Errorf("no remedy for %s", r.Verdict)
			}
			if limit := deadline + 500*time.Millisecond; time.Duration(r.DurationMS)*time.Millisecond > limit {
				t.Errorf("probe took %d ms, deadline %v", r.DurationMS, deadline)
			}
		})
	}
	byName := map[string]audit.Result{}
	for _, r := range res.Partners {
		byName[r.Name] = r
	}
	if r := byName["Müller GmbH"]; r.Root.Store != audit.RootPrivate || r.Root.File != "mueller-root.pem" {
		t.Errorf("Müller root = %+v, want private mueller-root.pem", r.Root)
	} else if len(r.SMTP.Greeting) != 3 || !slices.Contains(r.SMTP.EHLO, "PIPELINING") || len(r.SMTP.EHLOTLS) == 0 {
		t.Errorf("multi-line greeting/EHLO not captured: %q / %q / %q", r.SMTP.Greeting, r.SMTP.EHLO, r.SMTP.EHLOTLS)
	}
	if r := byName["Valid Corp"]; r.Root.Store != audit.RootSystem || len(r.Chain) != 2 || r.TLSVersion != "TLS 1.3" {
		t.Errorf("Valid Corp: root %+v, chain %d, %s", r.Root, len(r.Chain), r.TLSVersion)
	}
	if r := byName["Legacy TLS GmbH"]; r.TLSVersion != "TLS 1.0" {
		t.Errorf("legacy server negotiated %q", r.TLSVersion)
	}
	if r := byName["Shared Hosting B"]; r.SharedWith != "Shared Hosting A" {
		t.Errorf("shared target probed twice: %+v", r.SharedWith)
	}
	if r := byName["Valid Corp"]; r.Revocation == nil || r.Revocation.Method != "crl" || r.Revocation.Status != "good" || r.Revocation.NextUpdate.IsZero() {
		t.Errorf("Valid Corp revocation = %+v, want good by CRL with a next update", r.Revocation)
	}
	if r := byName["Revoked Cert GmbH"]; r.Revocation == nil || r.Revocation.Reason != "keyCompromise" || r.Revocation.RevokedAt.IsZero() {
		t.Errorf("revoked partner: %+v", r.Revocation)
	}
	if r := byName["AIA Rescue Ltd"]; r.Completion == nil || !r.Completion.Built || len(r.Completion.Fetched) != 1 || len(r.Completion.URLs) != 1 || len(r.Findings) != 0 {
		t.Errorf("AIA completion: %+v, findings %+v; want the chain built from one fetch, and no finding before the checks", r.Completion, r.Findings)
	}
	if n := rev.TotalFetches(); n > 4 {
		t.Errorf("%d fetches: the CRL should be fetched once per run", n)
	}
	status := map[string]audit.PrivateRoot{}
	for _, pr := range res.PrivateRoots {
		status[pr.File] = pr
	}
	for file, want := range map[string]string{"mueller-root.pem": audit.RootOK, "expired-root.cer": audit.RootExpired, "expiring-root.crt": audit.RootExpiring, "legacy-root.pem": audit.RootUnused} {
		if got := status[file].Status; got != want {
			t.Errorf("private root %s: status %q, want %q (%+v)", file, got, want, status[file])
		}
	}
	if pr := status["legacy-root.pem"]; !slices.Equal(pr.DeclaredBy, []string{"Valid Corp"}) || len(pr.UsedBy) != 0 {
		t.Errorf("legacy root declared/used = %v / %v", pr.DeclaredBy, pr.UsedBy)
	}
	if pr := status["mueller-root.pem"]; !slices.Equal(pr.UsedBy, []string{"Müller GmbH", "Müller Legacy Mail"}) {
		t.Errorf("mueller root used by %v", pr.UsedBy)
	}
	// Issue 10, item 2: leaf and intermediate of a private CA whose root
	// was never imported: the root is missing, and the remedies say so.
	if r := byName["Contoso Private CA"]; r.Case(audit.PartialChain) != audit.CaseMissingRoot || r.Cases[audit.PartialChain] != audit.CaseMissingRoot ||
		!strings.Contains(r.Remedy, "root CA (CN=Contoso Private Root CA,O=Contoso Ltd)") || !strings.Contains(r.Remedy, "Trusted Root Certification Authorities") ||
		strings.Contains(r.VerdictPartnerRemedy(audit.PartialChain), "Ask the partner") ||
		r.Completion == nil || r.Completion.Built || !strings.HasPrefix(r.Completion.LastSent, "CN=Contoso Mail Issuing CA") ||
		r.Completion.Missing != "CN=Contoso Private Root CA,O=Contoso Ltd" {
		t.Errorf("Contoso: case %q, remedy %q, completion %+v", r.Case(audit.PartialChain), r.Remedy, r.Completion)
	}
	// Issue 10, item 6: SHA-1 under the imported private root is a warning.
	if r := byName["Müller Legacy Mail"]; r.Root.Store != audit.RootPrivate || r.VerdictSeverity(audit.WeakSignature) != audit.Warning ||
		!strings.Contains(r.Details[audit.WeakSignature], "imported private root") {
		t.Errorf("Müller Legacy Mail: root %+v, severity %s, detail %q", r.Root, r.VerdictSeverity(audit.WeakSignature), r.Details[audit.WeakSignature])
	}
	if r := byName["SHA-1 Bank"]; r.Root.Store != audit.RootSystem || r.VerdictSeverity(audit.WeakSignature) != audit.Error {
		t.Errorf("SHA-1 Bank: root %+v, severity %s", r.Root, r.VerdictSeverity(audit.WeakSignature))
	}
}

// TestLimits checks the per-address cap, the progress bar and the rate limit.
func TestLimits(t *testing.T) {
	root, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Limits Root", NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(fleet.CertSpec{CommonName: "mx.limits.example", DNSNames: []string{"mx.limits.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	open, most := 0, 0
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		open++
		most = max(most, open)
		mu.Unlock()
		return &countedConn{Conn: c, close: sync.OnceFunc(func() { mu.Lock(); open--; mu.Unlock() })}, nil
	}
	var partners []audit.Partner
	// Ten servers on one address (different ports): at most --per-host at once.
	for i := range 10 {
		s, err := fleet.Listen("127.0.0.1:0", fleet.Behavior{Cert: leaf.TLSCert(), LineDelay: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		partners = append(partners, audit.Partner{Name: fmt.Sprint("p", i), Host: "mx.limits.example", Address: s.Addr, TLS: audit.StartTLS})
	}
	var bar bytes.Buffer
	start := time.Now()
	res := ProbeAll(context.Background(), partners, Options{PerHost: 2, Progress: &bar, Probe: probe.Options{HELO: "t", Dial: dial}})
	for _, r := range res.Partners {
		if r.SMTP.RemoteAddr == "" || len(r.Chain) != 1 {
			t.Fatalf("%s not probed: %v %s", r.Name, r.Verdicts, r.Error)
		}
	}
	if most != 2 {
		t.Errorf("%d connections at once to one address, want 2", most)
	}
	if !strings.Contains(bar.String(), "10/10 targets") || !strings.Contains(bar.String(), "[=====") {
		t.Errorf("progress bar: %q", bar.String())
	}
	t.Logf("10 probes at 2 per address: %v", time.Since(start))

	// --rate 20/s: ten probes cannot start in less than ~450 ms.
	start = time.Now()
	ProbeAll(context.Background(), partners, Options{Rate: 20, Probe: probe.Options{HELO: "t"}})
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Errorf("10 probes at 20/s took %v", el)
	}
}

type countedConn struct {
	net.Conn
	close func()
}

func (c *countedConn) Close() error {
	c.close()
	return c.Conn.Close()
}
