package revocation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// hier is a root and an intermediate whose revocation the root publishes as a CRL at /crl/root.
type hier struct {
	s           *server
	root, inter *ca
}

// newHier generates root and intermediate; the root's CRL revokes the
// intermediate when revokeInter is set.
func newHier(t *testing.T, s *server, revokeInter bool) hier {
	root := issue(t, nil, fleet.CertSpec{CommonName: "Test Root", IsCA: true})
	inter := issue(t, root, fleet.CertSpec{CommonName: "Test Intermediate", IsCA: true, CRLURLs: []string{s.url("/crl/root")}})
	var revoked []x509.RevocationListEntry
	if revokeInter {
		revoked = append(revoked, revokedEntry(inter, 2))
	}
	s.bytes("/crl/root", makeCRL(t, root, crlSpec{revoked: revoked}))
	return hier{s: s, root: root, inter: inter}
}

// leaf issues a leaf certificate from h's intermediate.
func (h hier) leaf(t *testing.T, s fleet.CertSpec) *ca {
	if s.CommonName == "" {
		s.CommonName = "mx.partner.test"
	}
	return issue(t, h.inter, s)
}

func (h hier) chain(leaf *ca) []*x509.Certificate {
	return []*x509.Certificate{leaf.Cert, h.inter.Cert, h.root.Cert}
}

func TestCheck(t *testing.T) {
	type setup func(t *testing.T, s *server) ([]*x509.Certificate, []byte)
	tests := []struct {
		name       string
		setup      setup
		opts       Options
		status     string
		method     string
		verdict    audit.Verdict
		reason     string
		revokedAt  bool
		nextUpdate time.Time
		certs      []string // per-certificate statuses, leaf first
		detail     []string // substrings of Detail
		noFetch    string   // a route that must not be requested
	}{
		{
			name: "good by OCSP, intermediate good by CRL",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				u := s.responder("/ocsp/", h.inter, h.inter, nil)
				leaf := h.leaf(t, fleet.CertSpec{OCSPURLs: []string{u}, CRLURLs: []string{s.url("/crl/never")}})
				return h.chain(leaf), nil
			},
			status: StatusGood, method: MethodOCSP, verdict: audit.Valid,
			nextUpdate: now.Add(72 * time.Hour),
			certs:      []string{StatusGood, StatusGood, StatusNotChecked},
			noFetch:    "/crl/never",
		},
		{
			name: "good by CRL",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{next: now.Add(48 * time.Hour)}))
				return h.chain(leaf), nil
			},
			status: StatusGood, method: MethodCRL, verdict: audit.Valid,
			nextUpdate: now.Add(48 * time.Hour),
			certs:      []string{StatusGood, StatusGood, StatusNotChecked},
		},
		{
			name: "CRL served as PEM",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter.pem")}})
				s.bytes("/crl/inter.pem", []byte("-----BEGIN X509 CRL-----\n"+b64lines(makeCRL(t, h.inter, crlSpec{}))+"-----END X509 CRL-----\n"))
				return h.chain(leaf), nil
			},
			status: StatusGood, method: MethodCRL, verdict: audit.Valid,
		},
		{
			name: "revoked leaf by CRL",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				other := h.leaf(t, fleet.CertSpec{CommonName: "other.test"})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{revoked: []x509.RevocationListEntry{revokedEntry(other, 4), revokedEntry(leaf, 1)}}))
				return h.chain(leaf), nil
			},
			status: StatusRevoked, method: MethodCRL, verdict: audit.Revoked, reason: "keyCompromise", revokedAt: true,
			certs:  []string{StatusRevoked, StatusGood, StatusNotChecked},
			detail: []string{"CN=mx.partner.test", "revoked on 2026-02-22T12:00:00Z (keyCompromise) per CRL", "/crl/inter"},
		},
		{
			name: "revoked leaf by OCSP",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{Serial: big.NewInt(77), OCSPURLs: []string{s.url("/ocsp/")}})
				s.responder("/ocsp/", h.inter, h.inter, map[int64]ocspAnswer{77: {status: ocsp.Revoked, reason: ocsp.Superseded}})
				return h.chain(leaf), nil
			},
			status: StatusRevoked, method: MethodOCSP, verdict: audit.Revoked, reason: "superseded", revokedAt: true,
			certs: []string{StatusRevoked, StatusGood, StatusNotChecked},
		},
		{
			name: "revoked intermediate",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, true)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{}))
				return h.chain(leaf), nil
			},
			status: StatusRevoked, method: MethodCRL, verdict: audit.Revoked, reason: "cACompromise", revokedAt: true,
			certs:  []string{StatusGood, StatusRevoked, StatusNotChecked},
			detail: []string{"CN=Test Intermediate", "cACompromise", "/crl/root"},
		},
		{
			name: "stapled good, responder not asked",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{OCSPURLs: []string{s.url("/ocsp/never/")}})
				return h.chain(leaf), makeOCSP(t, h.inter, h.inter, leaf.Cert, ocspAnswer{status: ocsp.Good, next: now.Add(time.Hour)})
			},
			status: StatusGood, method: MethodStaple, verdict: audit.Valid, nextUpdate: now.Add(time.Hour),
			certs: []string{StatusGood, StatusGood, StatusNotChecked}, noFetch: "/ocsp/never/",
		},
		{
			name: "stapled revoked",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{OCSPURLs: []string{s.url("/ocsp/never/")}})
				return h.chain(leaf), makeOCSP(t, h.inter, h.inter, leaf.Cert, ocspAnswer{status: ocsp.Revoked, reason: ocsp.KeyCompromise})
			},
			status: StatusRevoked, method: MethodStaple, verdict: audit.Revoked, reason: "keyCompromise", revokedAt: true,
			noFetch: "/ocsp/never/",
		},
		{
			name: "stapled response by a foreign key is ignored, OCSP asked",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{OCSPURLs: []string{s.url("/ocsp/")}})
				s.responder("/ocsp/", h.inter, h.inter, nil)
				evil := issue(t, nil, fleet.CertSpec{CommonName: "Test Intermediate", IsCA: true})
				return h.chain(leaf), makeOCSP(t, evil, evil, leaf.Cert, ocspAnswer{status: ocsp.Revoked})
			},
			status: StatusGood, method: MethodOCSP, verdict: audit.Valid,
		},
		{
			name: "delegated OCSP responder",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				resp := issue(t, h.inter, fleet.CertSpec{CommonName: "Test OCSP Responder", ExtKeyUse: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
				leaf := h.leaf(t, fleet.CertSpec{Serial: big.NewInt(78), OCSPURLs: []string{s.url("/ocsp/")}})
				s.responder("/ocsp/", h.inter, resp, map[int64]ocspAnswer{78: {status: ocsp.Revoked, reason: ocsp.CessationOfOperation}})
				return h.chain(leaf), nil
			},
			status: StatusRevoked, method: MethodOCSP, verdict: audit.Revoked, reason: "cessationOfOperation", revokedAt: true,
		},
		{
			name: "delegated responder without OCSP signing usage is not trusted, CRL used",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				resp := issue(t, h.inter, fleet.CertSpec{CommonName: "Not A Responder", ExtKeyUse: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				leaf := h.leaf(t, fleet.CertSpec{OCSPURLs: []string{s.url("/ocsp/")}, CRLURLs: []string{s.url("/crl/inter")}})
				s.responder("/ocsp/", h.inter, resp, nil)
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{revoked: []x509.RevocationListEntry{revokedEntry(leaf, 1)}}))
				return h.chain(leaf), nil
			},
			status: StatusRevoked, method: MethodCRL, verdict: audit.Revoked, reason: "keyCompromise", revokedAt: true,
		},
		{
			name: "OCSP unknown falls back to CRL",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{Serial: big.NewInt(79), OCSPURLs: []string{s.url("/ocsp/")}, CRLURLs: []string{s.url("/crl/inter")}})
				s.responder("/ocsp/", h.inter, h.inter, map[int64]ocspAnswer{79: {status: ocsp.Unknown}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{}))
				return h.chain(leaf), nil
			},
			status: StatusGood, method: MethodCRL, verdict: audit.Valid,
		},
		{
			name: "CRL signed by the wrong key is not trusted",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				evil := issue(t, nil, fleet.CertSpec{CommonName: "Test Intermediate", IsCA: true}) // same name, other key
				s.bytes("/crl/inter", makeCRL(t, evil, crlSpec{}))
				return h.chain(leaf), nil
			},
			status: StatusUnknown, method: MethodCRL, verdict: audit.RevocationOffline,
			certs:  []string{StatusUnknown, StatusGood, StatusNotChecked},
			detail: []string{"not trusted", "signature not from CN=Test Intermediate"},
		},
		{
			name: "CRL of another issuer is not trusted",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				s.bytes("/crl/inter", makeCRL(t, h.root, crlSpec{}))
				return h.chain(leaf), nil
			},
			status: StatusUnknown, method: MethodCRL, verdict: audit.RevocationOffline,
			detail: []string{"issued by CN=Test Root"},
		},
		{
			name: "expired CRL is not trusted",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/inter")}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{this: now.Add(-48 * time.Hour), next: now.Add(-24 * time.Hour)}))
				return h.chain(leaf), nil
			},
			status: StatusUnknown, method: MethodCRL, verdict: audit.RevocationOffline,
			detail: []string{"CRL expired 2026-02-28T12:00:00Z"},
		},
		{
			name: "expired OCSP response is not trusted",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{Serial: big.NewInt(80), OCSPURLs: []string{s.url("/ocsp/")}})
				s.responder("/ocsp/", h.inter, h.inter, map[int64]ocspAnswer{80: {status: ocsp.Good, this: now.Add(-48 * time.Hour), next: now.Add(-time.Hour)}})
				return h.chain(leaf), nil
			},
			status: StatusUnknown, method: MethodOCSP, verdict: audit.RevocationOffline,
			detail: []string{"OCSP response expired"},
		},
		{
			name: "responders down",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{OCSPURLs: []string{deadURL(t, "/ocsp")}, CRLURLs: []string{deadURL(t, "/crl")}})
				return h.chain(leaf), nil
			},
			status: StatusOffline, method: MethodCRL, verdict: audit.RevocationOffline,
			certs:  []string{StatusOffline, StatusGood, StatusNotChecked},
			detail: []string{"connection refused"},
		},
		{
			name: "CRL answers 404",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/missing")}})
				return h.chain(leaf), nil
			},
			status: StatusOffline, method: MethodCRL, verdict: audit.RevocationOffline,
			detail: []string{"HTTP 404"},
		},
		{
			name: "oversized CRL is capped",
			opts: Options{MaxCRLBytes: 4096},
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/huge")}})
				var many []x509.RevocationListEntry
				for i := range 300 {
					many = append(many, x509.RevocationListEntry{SerialNumber: bigInt(int64(5000 + i)), RevocationTime: now.Add(-time.Hour)})
				}
				s.bytes("/crl/huge", makeCRL(t, h.inter, crlSpec{revoked: many}))
				return h.chain(leaf), nil
			},
			status: StatusOffline, method: MethodCRL, verdict: audit.RevocationOffline,
			detail: []string{"size cap"},
		},
		{
			name: "LDAP distribution point is reported, not fetched",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{"ldap:///CN=Test%20Intermediate,CN=CDP?certificateRevocationList?base"}})
				return h.chain(leaf), nil
			},
			status: StatusNotChecked, method: MethodNotChecked, verdict: audit.Valid,
			certs:  []string{StatusNotChecked, StatusGood, StatusNotChecked},
			detail: []string{"not checked: ldap:///CN=Test%20Intermediate"},
		},
		{
			name: "LDAP first, HTTP second",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{"ldap:///CN=x", s.url("/crl/inter")}})
				s.bytes("/crl/inter", makeCRL(t, h.inter, crlSpec{}))
				return h.chain(leaf), nil
			},
			status: StatusGood, method: MethodCRL, verdict: audit.Valid,
		},
		{
			name: "no revocation URL at all",
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				return h.chain(h.leaf(t, fleet.CertSpec{})), nil
			},
			status: StatusNotChecked, method: MethodNotChecked, verdict: audit.Valid, // nothing to ask is not "offline"
			detail: []string{"names no OCSP responder or CRL distribution point"},
		},
		{
			name: "offline fetches nothing",
			opts: Options{Offline: true},
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				return h.chain(h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/never")}})), nil
			},
			status: StatusNotChecked, method: MethodNotChecked, verdict: audit.Valid,
			detail: []string{"--offline"}, noFetch: "/crl/never",
		},
		{
			name: "no-revocation fetches nothing",
			opts: Options{NoRevocation: true},
			setup: func(t *testing.T, s *server) ([]*x509.Certificate, []byte) {
				h := newHier(t, s, false)
				return h.chain(h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.url("/crl/never")}})), nil
			},
			status: StatusNotChecked, method: MethodNotChecked, verdict: audit.Valid,
			detail: []string{"--no-revocation"}, noFetch: "/crl/never",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			if tc.noFetch != "" {
				s.handle(tc.noFetch, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "must not be fetched", 500) })
			}
			chain, staple := tc.setup(t, s)
			if tc.opts.Timeout == 0 {
				tc.opts.Timeout = 5 * time.Second
			}
			f := NewFetcher(tc.opts)
			rev, v := f.Check(context.Background(), chain, staple, now)
			t.Logf("detail: %s", rev.Detail)
			if rev.Status != tc.status || rev.Method != tc.method || v != tc.verdict {
				t.Errorf("got status %q method %q verdict %s, want %q %q %s", rev.Status, rev.Method, v, tc.status, tc.method, tc.verdict)
			}
			if v != Verdict(rev) {
				t.Errorf("Check's verdict %s != Verdict(rev) %s", v, Verdict(rev))
			}
			if rev.Reason != tc.reason {
				t.Errorf("reason %q, want %q", rev.Reason, tc.reason)
			}
			if tc.revokedAt != !rev.RevokedAt.IsZero() {
				t.Errorf("revoked at %v, want set=%v", rev.RevokedAt, tc.revokedAt)
			}
			if !tc.nextUpdate.IsZero() && !rev.NextUpdate.Equal(tc.nextUpdate) {
				t.Errorf("next update %v, want %v", rev.NextUpdate, tc.nextUpdate)
			}
			if tc.certs != nil {
				var got []string
				for _, c := range rev.Certs {
					got = append(got, c.Status)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.certs) {
					t.Errorf("per-certificate statuses %v, want %v", got, tc.certs)
				}
			}
			for _, d := range tc.detail {
				if !strings.Contains(rev.Detail, d) {
					t.Errorf("detail %q lacks %q", rev.Detail, d)
				}
			}
			if tc.noFetch != "" && s.count(tc.noFetch) != 0 {
				t.Errorf("%s was fetched", tc.noFetch)
			}
			if tc.opts.Offline && f.TotalFetches() != 0 {
				t.Errorf("offline fetcher fetched %d times", f.TotalFetches())
			}
		})
	}
}

// TestCheckHangingResponder shows a responder that never answers costs one timeout, not more.
func TestCheckHangingResponder(t *testing.T) {
	s := newServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	h := newHier(t, s, false)
	leaf := h.leaf(t, fleet.CertSpec{CRLURLs: []string{s.handle("/crl/hang", hang)}})
	const timeout = 300 * time.Millisecond
	f := NewFetcher(Options{Timeout: timeout})
	start := time.Now()
	rev, v := f.Check(context.Background(), h.chain(leaf), nil, now)
	elapsed := time.Since(start)
	if v != audit.RevocationOffline || rev.Status != StatusOffline {
		t.Errorf("got %s / %s, want RevocationOffline / offline", v, rev.Status)
	}
	if !strings.Contains(rev.Detail, "no answer within 300ms") {
		t.Errorf("detail %q does not name the timeout", rev.Detail)
	}
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("took %v, want between %v and %v", elapsed, timeout, timeout+time.Second)
	}
	// The failure is cached: a second partner does not wait again.
	start = time.Now()
	f.Check(context.Background(), h.chain(leaf), nil, now)
	if d := time.Since(start); d > timeout/2 {
		t.Errorf("second check took %v: the failed fetch was not cached", d)
	}
	if n := s.count("/crl/hang"); n != 1 {
		t.Errorf("hanging CRL fetched %d times, want 1", n)
	}
}

// TestCheckSharedCRL runs 200 partners whose leaves share one CRL URL
// concurrently: the CRL is fetched exactly once.
func TestCheckSharedCRL(t *testing.T) {
	s := newServer(t)
	h := newHier(t, s, false)
	crlURL := s.url("/crl/inter")
	const partners = 200
	leaves := make([]*ca, partners)
	var revoked []x509.RevocationListEntry
	for i := range leaves {
		leaves[i] = h.leaf(t, fleet.CertSpec{CommonName: fmt.Sprintf("mx%d.partner.test", i), CRLURLs: []string{crlURL}})
		if i%10 == 0 {
			revoked = append(revoked, revokedEntry(leaves[i], 1))
		}
	}
	crl := makeCRL(t, h.inter, crlSpec{revoked: revoked})
	// The CRL is held back until every partner has started, so they pile up on the one fetch.
	gate := make(chan struct{})
	s.handle("/crl/inter", func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.Write(crl)
	})
	f := NewFetcher(Options{Timeout: 5 * time.Second})
	verdicts := make([]audit.Verdict, partners)
	var started, done sync.WaitGroup
	for i, l := range leaves {
		started.Add(1)
		done.Go(func() {
			started.Done()
			_, verdicts[i] = f.Check(context.Background(), h.chain(l), nil, now)
		})
	}
	started.Wait()
	close(gate)
	done.Wait()
	if n := f.Fetches(crlURL); n != 1 {
		t.Errorf("Fetcher sent %d requests for the shared CRL, want 1", n)
	}
	if n := s.count("/crl/inter"); n != 1 {
		t.Errorf("server saw %d requests for the shared CRL, want 1", n)
	}
	if n := s.count("/crl/root"); n != 1 {
		t.Errorf("server saw %d requests for the root CRL, want 1", n)
	}
	for i, v := range verdicts {
		want := audit.Valid
		if i%10 == 0 {
			want = audit.Revoked
		}
		if v != want {
			t.Errorf("partner %d: %s, want %s", i, v, want)
		}
	}
}

// TestCheckCallerCancel shows a caller whose context ends stops waiting at once.
func TestCheckCallerCancel(t *testing.T) {
	s := newServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	arrived := make(chan struct{}, 1)
	url := s.handle("/slow", func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	f := NewFetcher(Options{Timeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.Get(ctx, url, 1024)
		errc <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Get did not return after its context was cancelled")
	}
}
