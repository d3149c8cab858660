package revocation

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mxaudit/mxaudit/internal/fleet"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ca is a generated certificate with its key (a CA, a responder or a leaf).
type ca = fleet.CA

// issue generates a certificate signed by parent, or self-signed when parent
// is nil, with this package's defaults: organisation "mxaudit test", valid
// from a month before now for a year, a leaf named by its CN, and a CA key
// that also signs OCSP answers.
func issue(t testing.TB, parent *ca, s fleet.CertSpec) *ca {
	t.Helper()
	s.Org = "mxaudit test"
	s.NotBefore = now.AddDate(0, -1, 0)
	if s.NotAfter.IsZero() {
		s.NotAfter = now.AddDate(1, 0, 0)
	}
	if s.IsCA {
		s.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		s.DNSNames = []string{s.CommonName}
	}
	var is *fleet.Issued
	var err error
	if parent != nil {
		is, err = parent.Issue(s)
	} else {
		is, err = fleet.SelfSigned(s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return is.AsCA()
}

// crlSpec describes a CRL to generate.
type crlSpec struct {
	revoked    []x509.RevocationListEntry
	this, next time.Time // zero: now - 1 day, now + 6 days
}

// makeCRL returns a DER CRL issued by issuer.
func makeCRL(t testing.TB, issuer *ca, s crlSpec) []byte {
	t.Helper()
	if s.this.IsZero() {
		s.this = now.Add(-24 * time.Hour)
	}
	if s.next.IsZero() {
		s.next = now.Add(6 * 24 * time.Hour)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(1),
		ThisUpdate:                s.this,
		NextUpdate:                s.next,
		RevokedCertificateEntries: s.revoked,
	}, issuer.Cert, issuer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// revokedEntry lists c as revoked a week before now for reason.
func revokedEntry(c *ca, reason int) x509.RevocationListEntry {
	return x509.RevocationListEntry{SerialNumber: c.Cert.SerialNumber, RevocationTime: now.Add(-7 * 24 * time.Hour), ReasonCode: reason}
}

// ocspAnswer is what a test OCSP responder says about one serial.
type ocspAnswer struct {
	status int // ocsp.Good, ocsp.Revoked, ocsp.Unknown
	reason int
	this   time.Time // zero: now - 1 hour
	next   time.Time // zero: now + 3 days
}

// makeOCSP returns a DER OCSP response about c, signed by signer on behalf of issuer.
func makeOCSP(t testing.TB, issuer, signer *ca, c *x509.Certificate, a ocspAnswer) []byte {
	t.Helper()
	if a.this.IsZero() {
		a.this = now.Add(-time.Hour)
	}
	if a.next.IsZero() {
		a.next = now.Add(72 * time.Hour)
	}
	tmpl := ocsp.Response{
		Status:       a.status,
		SerialNumber: c.SerialNumber,
		ThisUpdate:   a.this,
		NextUpdate:   a.next,
	}
	if signer != issuer {
		tmpl.Certificate = signer.Cert // a delegated responder sends its certificate
	}
	if a.status == ocsp.Revoked {
		tmpl.RevokedAt = now.Add(-7 * 24 * time.Hour)
		tmpl.RevocationReason = a.reason
	}
	der, err := ocsp.CreateResponse(issuer.Cert, signer.Cert, tmpl, signer.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// server is an HTTP server on 127.0.0.1 that serves routes by path prefix and counts requests.
type server struct {
	t    testing.TB
	srv  *httptest.Server
	mu   sync.Mutex
	rt   map[string]http.HandlerFunc
	hits map[string]int
}

func newServer(t testing.TB) *server {
	s := &server{t: t, rt: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	// Routes match on the raw path: no ServeMux cleaning of OCSP GET paths.
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		s.mu.Lock()
		var h http.HandlerFunc
		var route string
		for pre, fn := range s.rt {
			if strings.HasPrefix(p, pre) && len(pre) > len(route) {
				h, route = fn, pre
			}
		}
		if h != nil {
			s.hits[route]++
		}
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// url returns the absolute URL of path on s.
func (s *server) url(path string) string { return s.srv.URL + path }

// handle routes every path starting with prefix to h.
func (s *server) handle(prefix string, h http.HandlerFunc) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rt[prefix] = h
	return s.url(prefix)
}

// bytes serves b at path.
func (s *server) bytes(path string, b []byte) string {
	return s.handle(path, func(w http.ResponseWriter, r *http.Request) { w.Write(b) })
}

// count returns how many requests the route prefix received.
func (s *server) count(prefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[prefix]
}

// responder serves OCSP at prefix for issuer, signed by signer, answering from answers by serial
// (an unlisted serial is good).
func (s *server) responder(prefix string, issuer, signer *ca, answers map[int64]ocspAnswer) string {
	return s.handle(prefix, func(w http.ResponseWriter, r *http.Request) {
		seg, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), prefix))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		der, err := base64.StdEncoding.DecodeString(seg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := ocsp.ParseRequest(der)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a, ok := answers[req.SerialNumber.Int64()]
		if !ok {
			a = ocspAnswer{status: ocsp.Good}
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(makeOCSP(s.t, issuer, signer, &x509.Certificate{SerialNumber: req.SerialNumber}, a))
	})
}

// deadURL returns an http URL on 127.0.0.1 where nothing listens.
func deadURL(t testing.TB, path string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + path
}

// b64lines encodes der as PEM body lines.
func b64lines(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func bigInt(n int64) *big.Int { return big.NewInt(n) }
