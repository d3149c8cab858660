package run

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/audit/fleet"
	"github.com/mxaudit/mxaudit/audit/probe"
	"github.com/mxaudit/mxaudit/audit/revocation"
)

// trustOf builds the trust a scan of f would load: the fleet's public
// root plus its private roots.
func trustOf(t *testing.T, f *fleet.Fleet) (*x509.CertPool, func(*x509.Certificate) (string, string), []audit.PrivateRoot) {
	t.Helper()
	pool := f.RootsPool()
	files := map[string]string{}
	var roots []audit.PrivateRoot
	for name, b := range f.PrivateRoots {
		der := b
		if blk, _ := pem.Decode(b); blk != nil {
			der = blk.Bytes
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(c)
		files[string(c.Raw)] = name
		ac := audit.NewCert(c)
		roots = append(roots, audit.PrivateRoot{File: name, Subject: ac.Subject, SHA1: ac.SHA1, SHA256: ac.SHA256, NotBefore: c.NotBefore, NotAfter: c.NotAfter})
	}
	slices.SortFunc(roots, func(a, b audit.PrivateRoot) int { return a.NotAfter.Compare(b.NotAfter) })
	src := func(c *x509.Certificate) (string, string) {
		if f, ok := files[string(c.Raw)]; ok {
			return audit.RootPrivate, f
		}
		return audit.RootSystem, ""
	}
	return pool, src, roots
}

func TestRunFleet(t *testing.T) {
	f, err := fleet.Start(fleet.Options{Hostile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pool, src, roots := trustOf(t, f)
	const deadline = 2 * time.Second
	rev := revocation.NewFetcher(revocation.Options{Timeout: time.Second})
	res := Run(context.Background(), f.Partners(), Options{
		Inspect:      rev.Inspector(pool, f.Now),
		Probe:        probe.Options{HELO: "audit.test", Timeout: deadline, ConnectTimeout: time.Second},
		Resolver:     f.Resolver,
		Roots:        pool,
		Source:       src,
		PrivateRoots: roots,
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
	if r := byName["Müller GmbH"]; r.Root.Source != audit.RootPrivate || r.Root.File != "mueller-root.pem" {
		t.Errorf("Müller root = %+v, want private mueller-root.pem", r.Root)
	} else if len(r.SMTP.Greeting) != 3 || !slices.Contains(r.SMTP.EHLO, "PIPELINING") || len(r.SMTP.EHLOTLS) == 0 {
		t.Errorf("multi-line greeting/EHLO not captured: %q / %q / %q", r.SMTP.Greeting, r.SMTP.EHLO, r.SMTP.EHLOTLS)
	}
	if r := byName["Valid Corp"]; r.Root.Source != audit.RootSystem || len(r.Chain) != 2 || r.TLSVersion != "TLS 1.3" {
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
	if r := byName["AIA Rescue Ltd"]; !slices.ContainsFunc(r.Findings, func(f audit.Finding) bool { return strings.Contains(f.Message, "Windows") }) {
		t.Errorf("AIA completion finding missing: %+v", r.Findings)
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
	if pr := status["mueller-root.pem"]; !slices.Equal(pr.UsedBy, []string{"Müller GmbH"}) {
		t.Errorf("mueller root used by %v", pr.UsedBy)
	}
}
