package revocation

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func p7(t *testing.T, cs ...*x509.Certificate) []byte {
	t.Helper()
	var der []byte
	for _, c := range cs {
		der = append(der, c.Raw...)
	}
	b, err := pkcs7.DegenerateCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestComplete(t *testing.T) {
	// setup returns the presented chain and the trusted roots.
	type setup func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool)
	// twoLevels is root -> int1 -> int2 -> leaf, with int2 and int1 at AIA URLs served by serve.
	twoLevels := func(t *testing.T, s *server, serve func(int1, int2 *ca)) ([]*x509.Certificate, *x509.CertPool) {
		root := issue(t, nil, fleet.CertSpec{CommonName: "AIA Root", IsCA: true})
		int1 := issue(t, root, fleet.CertSpec{CommonName: "AIA Int 1", IsCA: true, IssuerURLs: []string{s.url("/aia/root.crt")}})
		int2 := issue(t, int1, fleet.CertSpec{CommonName: "AIA Int 2", IsCA: true, IssuerURLs: []string{s.url("/aia/int1")}})
		leaf := issue(t, int2, fleet.CertSpec{CommonName: "mx.partner.test", IssuerURLs: []string{s.url("/aia/int2")}})
		serve(int1, int2)
		return []*x509.Certificate{leaf.Cert}, pool(root)
	}
	// oneLevel is root -> int -> leaf; the leaf's AIA URLs are aia, int is served as body(int).
	oneLevel := func(t *testing.T, s *server, aia []string, body func(root, int *ca) []byte) ([]*x509.Certificate, *x509.CertPool) {
		root := issue(t, nil, fleet.CertSpec{CommonName: "AIA Root", IsCA: true})
		in := issue(t, root, fleet.CertSpec{CommonName: "AIA Int", IsCA: true})
		leaf := issue(t, in, fleet.CertSpec{CommonName: "mx.partner.test", IssuerURLs: aia})
		if body != nil {
			s.bytes("/aia/int", body(root, in))
		}
		return []*x509.Certificate{leaf.Cert}, pool(root)
	}
	tests := []struct {
		name     string
		opts     Options
		setup    setup
		built    bool
		fetched  []string // subjects' CNs of the fetched issuers
		fetches  int      // HTTP requests in all
		err      error    // errors.Is target, or nil
		errText  string
		reason   []string // substrings of Facts().Reason, why it was not built
		lastSent string   // Facts().LastSent, when set here
		missing  string   // a substring of Facts().Missing, when set here
	}{
		{
			// Issue 10, item 2: every OpenSSL/GnuTLS MTA sends leaf and
			// intermediate, never the root; the missing certificate is the root.
			name: "private CA's root not imported",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				root := issue(t, nil, fleet.CertSpec{CommonName: "Contoso Root CA", IsCA: true})
				in := issue(t, root, fleet.CertSpec{CommonName: "Contoso Issuing CA", IsCA: true})
				leaf := issue(t, in, fleet.CertSpec{CommonName: "mx.partner.test"})
				return []*x509.Certificate{leaf.Cert, in.Cert}, pool(issue(t, nil, fleet.CertSpec{CommonName: "Some Public Root", IsCA: true}))
			},
			err: ErrNoAIA, reason: []string{"names no AIA caIssuers URL"},
			lastSent: "CN=Contoso Issuing CA,O=mxaudit test", missing: "CN=Contoso Root CA",
		},
		{
			name: "DER intermediate",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(_, in *ca) []byte { return in.Cert.Raw })
			},
			built: true, fetched: []string{"AIA Int"}, fetches: 1,
			lastSent: "CN=mx.partner.test,O=mxaudit test", missing: "CN=AIA Int",
		},
		{
			name: "PEM intermediate",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(_, in *ca) []byte { return pemCert(in.Cert) })
			},
			built: true, fetched: []string{"AIA Int"}, fetches: 1,
		},
		{
			name: "PKCS#7 intermediate",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(_, in *ca) []byte { return p7(t, in.Cert) })
			},
			built: true, fetched: []string{"AIA Int"}, fetches: 1,
		},
		{
			name: "second URL after a dead first",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{"ldap:///CN=AIA", deadURL(t, "/int"), s.url("/aia/int")}, func(_, in *ca) []byte { return in.Cert.Raw })
			},
			built: true, fetched: []string{"AIA Int"}, fetches: 2,
		},
		{
			name: "two levels, one fetch each",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return twoLevels(t, s, func(int1, int2 *ca) {
					s.bytes("/aia/int2", int2.Cert.Raw)
					s.bytes("/aia/int1", int1.Cert.Raw)
				})
			},
			built: true, fetched: []string{"AIA Int 2", "AIA Int 1"}, fetches: 2,
		},
		{
			name: "PKCS#7 bundle holding both levels",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return twoLevels(t, s, func(int1, int2 *ca) { s.bytes("/aia/int2", p7(t, int1.Cert, int2.Cert)) })
			},
			built: true, fetched: []string{"AIA Int 2", "AIA Int 1"}, fetches: 1,
		},
		{
			name: "chain already complete",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				root := issue(t, nil, fleet.CertSpec{CommonName: "AIA Root", IsCA: true})
				leaf := issue(t, root, fleet.CertSpec{CommonName: "mx.partner.test", IssuerURLs: []string{s.url("/aia/never")}})
				return []*x509.Certificate{leaf.Cert}, pool(root)
			},
			built: true, fetches: 0,
		},
		{
			name: "AIA answers 404",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/gone")}, nil)
			},
			fetches: 1, errText: "HTTP 404",
			reason: []string{"could not be fetched (HTTP 404", "/aia/gone"}, missing: "CN=AIA Int",
		},
		{
			name: "AIA serves another certificate",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(root, _ *ca) []byte { return root.Cert.Raw })
			},
			fetches: 1, errText: "no certificate there issued CN=mx.partner.test",
		},
		{
			name: "AIA serves an impostor with the right name",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(root, _ *ca) []byte {
					return issue(t, root, fleet.CertSpec{CommonName: "AIA Int", IsCA: true}).Cert.Raw // same name, other key
				})
			},
			fetches: 1, errText: "no certificate there issued",
		},
		{
			name: "AIA serves garbage",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(_, _ *ca) []byte { return []byte("<html>not found</html>") })
			},
			fetches: 1, errText: "neither a certificate nor PKCS#7",
		},
		{
			name: "no AIA URL",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, nil, nil)
			},
			err: ErrNoAIA, reason: []string{"the certificate names no AIA caIssuers URL"},
		},
		{
			name: "only an LDAP AIA URL",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{"ldap:///CN=AIA"}, nil)
			},
			err: ErrNoAIA, errText: "not fetched: ldap:///CN=AIA",
		},
		{
			name: "untrusted root at the end",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				root := issue(t, nil, fleet.CertSpec{CommonName: "Private Root", IsCA: true})
				leaf := issue(t, root, fleet.CertSpec{CommonName: "mx.partner.test", IssuerURLs: []string{s.url("/aia/never")}})
				other := issue(t, nil, fleet.CertSpec{CommonName: "Other Root", IsCA: true})
				return []*x509.Certificate{leaf.Cert, root.Cert}, pool(other)
			},
			err: ErrSelfSignedEnd, reason: []string{"self-signed certificate that is not trusted"},
		},
		{
			name: "offline fetches nothing",
			opts: Options{Offline: true},
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				return oneLevel(t, s, []string{s.url("/aia/int")}, func(_, in *ca) []byte { return in.Cert.Raw })
			},
			err: ErrOffline,
		},
		{
			name: "endless chain stops at the depth limit",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, *x509.CertPool) {
				root := issue(t, nil, fleet.CertSpec{CommonName: "Deep Root", IsCA: true})
				prev := root
				var path string
				for i := range MaxAIADepth + 2 {
					path = "/aia/deep" + string(rune('a'+i))
					s.bytes(path, prev.Cert.Raw)
					prev = issue(t, prev, fleet.CertSpec{CommonName: "Deep " + path, IsCA: true, IssuerURLs: []string{s.url(path)}})
				}
				leaf := issue(t, prev, fleet.CertSpec{CommonName: "mx.partner.test", IssuerURLs: []string{s.url("/aia/leafissuer")}})
				s.bytes("/aia/leafissuer", prev.Cert.Raw)
				return []*x509.Certificate{leaf.Cert}, pool(root)
			},
			fetched: []string{"Deep /aia/deepf", "Deep /aia/deepe", "Deep /aia/deepd", "Deep /aia/deepc"},
			fetches: MaxAIADepth, errText: "no trusted root reached after 4 AIA fetches",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			presented, roots := tc.setup(t, s)
			tc.opts.Timeout = 5 * time.Second
			f := NewFetcher(tc.opts)
			c := f.Complete(context.Background(), presented, roots)
			t.Logf("err: %v", c.Err)
			if c.Built != tc.built {
				t.Errorf("built %v, want %v (err %v)", c.Built, tc.built, c.Err)
			}
			var got []string
			for _, k := range c.Fetched {
				got = append(got, k.Subject.CommonName)
			}
			if strings.Join(got, "|") != strings.Join(tc.fetched, "|") {
				t.Errorf("fetched %q, want %q", got, tc.fetched)
			}
			if len(c.Chain) != len(presented)+len(c.Fetched) {
				t.Errorf("chain has %d certificates, want %d", len(c.Chain), len(presented)+len(c.Fetched))
			}
			if n := f.TotalFetches(); n != tc.fetches {
				t.Errorf("%d fetches, want %d", n, tc.fetches)
			}
			if tc.built != (c.Err == nil) {
				t.Errorf("built %v but err %v", c.Built, c.Err)
			}
			if tc.err != nil && !errors.Is(c.Err, tc.err) {
				t.Errorf("err %v, want %v", c.Err, tc.err)
			}
			if tc.errText != "" && (c.Err == nil || !strings.Contains(c.Err.Error(), tc.errText)) {
				t.Errorf("err %v, want it to contain %q", c.Err, tc.errText)
			}
			facts := c.Facts()
			if facts.Built != c.Built || facts.Offline != errors.Is(c.Err, ErrOffline) || len(facts.Fetched) != len(c.Fetched) {
				t.Errorf("facts %+v do not say the completion (built %v, err %v, %d fetched)", facts, c.Built, c.Err, len(c.Fetched))
			}
			if !c.Built && !facts.Offline && facts.Reason == "" {
				t.Errorf("facts %+v: no reason why the chain was not built", facts)
			}
			for _, m := range tc.reason {
				if !strings.Contains(facts.Reason, m) {
					t.Errorf("reason %q lacks %q", facts.Reason, m)
				}
			}
			if d := facts.Reason; strings.Contains(d, "dial tcp") || strings.Contains(d, "x509:") {
				t.Errorf("reason carries a raw Go error: %q", d)
			}
			if tc.lastSent != "" && facts.LastSent != tc.lastSent {
				t.Errorf("last sent %q, want %q", facts.LastSent, tc.lastSent)
			}
			if !strings.Contains(facts.Missing, tc.missing) {
				t.Errorf("missing %q, want it to name %q", facts.Missing, tc.missing)
			}
			if c.Built && len(c.Fetched) > 0 && (len(facts.URLs) == 0 || facts.Fetched[0] != c.Fetched[0].Subject.String()) {
				t.Errorf("facts %+v do not name what was fetched from where", facts)
			}
		})
	}
}

func pool(cs ...*ca) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c.Cert)
	}
	return p
}

// TestCompleteThenCheck completes a chain from AIA and checks the completed,
// verified chain for revocation, as the run stage does.
func TestCompleteThenCheck(t *testing.T) {
	s := newServer(t)
	h := newHier(t, s, true) // the intermediate is revoked
	leaf := h.leaf(t, fleet.CertSpec{IssuerURLs: []string{s.bytes("/aia/int", h.inter.Cert.Raw)}, CRLURLs: []string{s.url("/crl/inter")}})
	s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{}))
	f := NewFetcher(Options{Timeout: 5 * time.Second})
	c := f.Complete(context.Background(), []*x509.Certificate{leaf.Cert}, pool(h.root))
	if !c.Built {
		t.Fatalf("not built: %v", c.Err)
	}
	inter := x509.NewCertPool()
	for _, k := range c.Chain[1:] {
		inter.AddCert(k)
	}
	chains, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: pool(h.root), Intermediates: inter, CurrentTime: now})
	if err != nil {
		t.Fatal(err)
	}
	rev, v := f.Check(context.Background(), chains[0], nil, now)
	if v != audit.Revoked || rev.Certs[1].Status != StatusRevoked {
		t.Errorf("got %s (%s), want the fetched intermediate revoked", v, rev.Detail)
	}
}
