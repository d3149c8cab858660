package revocation

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/internal/fleet"
)

// benchCRL serves a CRL of n revoked serials from a test hierarchy and returns a leaf chain under it.
func benchCRL(b *testing.B, n int) (*server, []*x509.Certificate) {
	s := newServer(b)
	root := issue(b, nil, fleet.CertSpec{CommonName: "Bench Root", IsCA: true})
	inter := issue(b, root, fleet.CertSpec{CommonName: "Bench Int", IsCA: true})
	leaf := issue(b, inter, fleet.CertSpec{CommonName: "mx.bench.test", CRLURLs: []string{s.url("/crl")}})
	entries := make([]x509.RevocationListEntry, n)
	for i := range entries {
		entries[i] = x509.RevocationListEntry{SerialNumber: bigInt(int64(1_000_000 + i)), RevocationTime: now.Add(-time.Hour), ReasonCode: 1}
	}
	crl := makeCRL(b, inter, crlSpec{revoked: entries})
	b.Logf("CRL of %d entries: %d bytes", n, len(crl))
	s.bytes("/crl", crl)
	return s, []*x509.Certificate{leaf.Cert, inter.Cert}
}

// BenchmarkCheckFirstCRL is the first partner under a 100,000-entry CRL: fetch, verify, index.
func BenchmarkCheckFirstCRL(b *testing.B) {
	_, chain := benchCRL(b, 100_000)
	for b.Loop() {
		f := NewFetcher(Options{})
		if _, v := f.Check(context.Background(), chain, nil, now); v != "Valid" {
			b.Fatal(v)
		}
	}
}

// BenchmarkCheckCachedCRL is every further partner under the same CRL.
func BenchmarkCheckCachedCRL(b *testing.B) {
	_, chain := benchCRL(b, 100_000)
	f := NewFetcher(Options{})
	f.Check(context.Background(), chain, nil, now)
	for b.Loop() {
		if _, v := f.Check(context.Background(), chain, nil, now); v != "Valid" {
			b.Fatal(v)
		}
	}
}
