package revocation

import (
	"context"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/verify"
)

// TestInspector runs the hook the way the run stage does: verify first, then Inspect.
func TestInspector(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		setup    func(t *testing.T, s *server, h hier) []*x509.Certificate // the presented chain
		roots    func(h hier) *x509.CertPool
		verdicts []audit.Verdict // among the result's verdicts
		absent   []audit.Verdict // not among them
		status   string
		complete string // "built", "not built", or "" for no Completion recorded
		reason   string // substring of Completion.Reason
	}{
		{
			name: "full chain, good",
			setup: func(t *testing.T, s *server, h hier) []*x509.Certificate {
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{}))}})
				return []*x509.Certificate{leaf.Cert, h.inter.Cert}
			},
			absent: []audit.Verdict{audit.Revoked, audit.RevocationOffline, audit.PartialChain}, status: StatusGood,
		},
		{
			name: "full chain, revoked leaf",
			setup: func(t *testing.T, s *server, h hier) []*x509.Certificate {
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{revoked: []x509.RevocationListEntry{revokedEntry(leaf, 1)}}))
				return []*x509.Certificate{leaf.Cert, h.inter.Cert}
			},
			verdicts: []audit.Verdict{audit.Revoked}, status: StatusRevoked,
		},
		{
			name: "partial chain completed from AIA, then revoked",
			setup: func(t *testing.T, s *server, h hier) []*x509.Certificate {
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}, IssuerURLs: []string{s.bytes("/aia/int", h.inter.Cert.Raw)}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{revoked: []x509.RevocationListEntry{revokedEntry(leaf, 1)}}))
				return []*x509.Certificate{leaf.Cert}
			},
			verdicts: []audit.Verdict{audit.PartialChain, audit.Revoked}, status: StatusRevoked,
			complete: "built",
		},
		{
			name: "partial chain, AIA down",
			setup: func(t *testing.T, s *server, h hier) []*x509.Certificate {
				leaf := h.leaf(t, fleet.CertSpec{IssuerURLs: []string{deadURL(t, "/int.crt")}})
				return []*x509.Certificate{leaf.Cert}
			},
			verdicts: []audit.Verdict{audit.PartialChain}, absent: []audit.Verdict{audit.RevocationOffline},
			status: StatusNotChecked, complete: "not built", reason: "http://",
		},
		{
			name: "untrusted root is not checked",
			setup: func(t *testing.T, s *server, h hier) []*x509.Certificate {
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/never")}})
				return []*x509.Certificate{leaf.Cert, h.inter.Cert, h.root.Cert}
			},
			roots:    func(h hier) *x509.CertPool { return x509.NewCertPool() },
			verdicts: []audit.Verdict{audit.UntrustedRoot}, status: StatusNotChecked,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			h := newHier(t, s, false)
			presented := tc.setup(t, s, h)
			roots := pool(h.root)
			if tc.roots != nil {
				roots = tc.roots(h)
			}
			out := verify.Verify(verify.Input{Chain: presented, Host: "mx.partner.test"}, verify.Options{Roots: roots, Now: now})
			r := &audit.Result{Partner: audit.Partner{Host: "mx.partner.test"}, Details: out.Details, Verdicts: slices.Clone(out.Verdicts)}
			f := NewFetcher(Options{Timeout: 5 * time.Second})
			f.Inspector(roots, now)(context.Background(), r, presented, out.Path)
			for _, v := range tc.verdicts {
				if !r.Has(v) {
					t.Errorf("verdicts %v lack %s", r.Verdicts, v)
				}
			}
			for _, v := range tc.absent {
				if r.Has(v) {
					t.Errorf("verdicts %v have %s", r.Verdicts, v)
				}
			}
			if r.Revocation == nil || r.Revocation.Status != tc.status {
				t.Fatalf("revocation %+v, want status %q", r.Revocation, tc.status)
			}
			c := r.Completion
			switch {
			case tc.complete == "" && c != nil:
				t.Errorf("unexpected completion %+v", c)
			case tc.complete != "" && c == nil:
				t.Fatalf("no completion recorded, want %s", tc.complete)
			case tc.complete != "" && c.Built != (tc.complete == "built"):
				t.Errorf("completion %+v, want %s", c, tc.complete)
			}
			if c != nil && !strings.Contains(c.Reason, tc.reason) {
				t.Errorf("completion reason %q lacks %q", c.Reason, tc.reason)
			}
			if len(r.Findings) > 0 {
				t.Errorf("the revocation stage made findings %+v: the aia check words the completion", r.Findings)
			}
			if d := r.Details[audit.PartialChain]; strings.Contains(d, "AIA") {
				t.Errorf("PartialChain detail %q restates the completion, which the aia check words", d)
			}
		})
	}
}
