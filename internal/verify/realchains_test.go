package verify

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// realChain reads real public certificates from audit/testdata (see its README.md).
func realChain(t *testing.T, name string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "audit", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, c)
	}
	return out
}

func pool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

// TestVerifyRealChains runs real public chains: Google's 2014 chain through
// the SHA-1 intermediate Google Internet Authority G2 (leaf, GIAG2, GeoTrust
// Global CA), and EC-Ciutadania under the negative-serial root EC-ACC used
// as an imported private root.
func TestVerifyRealChains(t *testing.T) {
	g := realChain(t, "google-giag2-sha1.pem") // www.google.com, GIAG2 (SHA-1), GeoTrust Global CA
	e := realChain(t, "ec-acc-negative-serial.pem")
	if len(g) != 3 || len(e) != 2 {
		t.Fatalf("testdata: %d and %d certificates, want 3 and 2", len(g), len(e))
	}
	in2014 := time.Date(2014, 4, 1, 12, 0, 0, 0, time.UTC) // every certificate of the Google chain valid
	in2026 := time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC)
	private := func(c *x509.Certificate) (string, string) { return audit.RootPrivate, "ec-acc.cer" }
	for _, tc := range []struct {
		name    string
		chain   []*x509.Certificate
		host    string
		roots   *x509.CertPool
		source  func(*x509.Certificate) (string, string)
		now     time.Time
		want    []audit.Verdict
		details map[audit.Verdict][]string // words each verdict's details must hold
		root    audit.Root                 // Source, File, Subject prefix and SHA256 checked when set
	}{
		{
			name: "SHA-1 intermediate, trusted root not sent", chain: g[:2], host: "www.google.com", roots: pool(g[2]), now: in2014,
			want:    []audit.Verdict{audit.WeakSignature},
			details: map[audit.Verdict][]string{audit.WeakSignature: {"the leaf (CN=www.google.com", "is signed with SHA1-RSA", "chain certificate 2 (CN=Google Internet Authority G2", "the public root CN=GeoTrust Global CA", "Windows refuses SHA-1"}},
		},
		{
			name: "SHA-1 chain years later", chain: g[:2], host: "www.google.com", roots: pool(g[2]), now: in2026,
			want: []audit.Verdict{audit.Expired, audit.WeakSignature},
			details: map[audit.Verdict][]string{audit.Expired: {"the leaf (CN=www.google.com", "expired on 2014-06-10", "chain certificate 2 (CN=Google Internet Authority G2", "expired on 2015-04-04"},
				audit.WeakSignature: {"SHA1-RSA"}},
		},
		{
			name: "SHA-1 chain, wrong host", chain: g[:2], host: "mx.google.example", roots: pool(g[2]), now: in2014,
			want:    []audit.Verdict{audit.NameMismatch, audit.WeakSignature},
			details: map[audit.Verdict][]string{audit.NameMismatch: {"names www.google.com, not mx.google.example"}},
		},
		{
			name: "SHA-1 chain, leaf alone", chain: g[:1], host: "www.google.com", roots: pool(g[2]), now: in2014,
			want:    []audit.Verdict{audit.PartialChain, audit.WeakSignature},
			details: map[audit.Verdict][]string{audit.PartialChain: {"its issuer CN=Google Internet Authority G2", "the intermediate CA is missing"}},
			root:    audit.Root{Store: audit.RootNone, Subject: "CN=Google Internet Authority G2"},
		},
		{
			name: "SHA-1 chain with its root, nothing trusted", chain: g, host: "www.google.com", now: in2014,
			want: []audit.Verdict{audit.UntrustedRoot, audit.WeakSignature},
			root: audit.Root{Store: audit.RootNone, Subject: "CN=GeoTrust Global CA"},
		},
		{
			name: "SHA-1 chain with its root, root trusted", chain: g, host: "www.google.com", roots: pool(g[2]), now: in2014,
			want: []audit.Verdict{audit.WeakSignature},
		},
		{
			name: "SHA-1 intermediate, nothing trusted, root not sent", chain: g[:2], host: "www.google.com", now: in2014,
			want: []audit.Verdict{audit.PartialChain, audit.WeakSignature},
		},
		{
			name: "negative-serial private root", chain: e[:1], roots: pool(e[1]), source: private, now: in2026,
			want: []audit.Verdict{audit.Valid},
			root: audit.Root{Store: audit.RootPrivate, File: "ec-acc.cer", Subject: "CN=EC-ACC,",
				SHA256: "88497F01602F3154246AE28C4D5AEF10F1D87EBB76626F4AE0B7F95BA7968799"},
		},
		{
			name: "negative-serial root sent too", chain: e, roots: pool(e[1]), source: private, now: in2026,
			want: []audit.Verdict{audit.Valid},
			root: audit.Root{Store: audit.RootPrivate, File: "ec-acc.cer", Subject: "CN=EC-ACC,"},
		},
		{
			name: "negative-serial root not imported", chain: e[:1], now: in2026,
			want:    []audit.Verdict{audit.PartialChain},
			details: map[audit.Verdict][]string{audit.PartialChain: {"its issuer CN=EC-ACC,"}},
		},
		{
			name: "negative-serial root sent, not imported", chain: e, now: in2026,
			want: []audit.Verdict{audit.UntrustedRoot},
			root: audit.Root{Store: audit.RootNone, Subject: "CN=EC-ACC,"},
		},
		{
			name: "private root and intermediate expired", chain: e[:1], roots: pool(e[1]), source: private,
			now:  time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC),
			want: []audit.Verdict{audit.Expired},
			details: map[audit.Verdict][]string{audit.Expired: {"the leaf (CN=EC-Ciutadania", "expired on 2030-09-18",
				"imported private root ec-acc.cer (CN=EC-ACC,", "expired on 2031-01-07"}},
			root: audit.Root{Store: audit.RootPrivate, File: "ec-acc.cer", Subject: "CN=EC-ACC,"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Verify(Input{Chain: tc.chain, Host: tc.host}, Options{Roots: tc.roots, StoreOf: tc.source, Now: tc.now})
			if !slices.Equal(o.Verdicts, tc.want) {
				t.Fatalf("verdicts %v (%v), want %v", o.Verdicts, o.Details, tc.want)
			}
			if o.Primary() != tc.want[0] {
				t.Errorf("primary %s, want %s", o.Primary(), tc.want[0])
			}
			for v, words := range tc.details {
				for _, w := range words {
					if !strings.Contains(o.Details[v], w) {
						t.Errorf("%s details %q lack %q", v, o.Details[v], w)
					}
				}
			}
			if r := tc.root; r.Store != "" {
				got := o.Root
				if got.Store != r.Store || got.File != r.File || !strings.HasPrefix(got.Subject, r.Subject) || r.SHA256 != "" && got.SHA256 != r.SHA256 {
					t.Errorf("root %+v, want source %q, file %q, subject starting %q, SHA-256 %q", got, r.Store, r.File, r.Subject, r.SHA256)
				}
			}
			if tc.want[0] == audit.Valid && (len(o.Path) != 2 || !o.Path[0].Equal(e[0]) || !o.Path[1].Equal(e[1])) {
				t.Errorf("path of %d certificates, want EC-Ciutadania, EC-ACC", len(o.Path))
			}
		})
	}
}
