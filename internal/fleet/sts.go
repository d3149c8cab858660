package fleet

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PolicyServer is an HTTPS server on a loopback address that plays
// mta-sts.DOMAIN for many domains (RFC 8461 section 3.3): the certificate
// chosen by SNI, the policy by Host, and a count of the fetches.
type PolicyServer struct {
	Addr string // ip:port

	mu       sync.Mutex
	certs    map[string]*tls.Certificate
	handlers map[string]http.HandlerFunc
	fetches  atomic.Int64
	byHost   map[string]int // fetches per policy host
	srv      *http.Server
}

// StartPolicyServer listens on ip:port (port 0: any free port).
func StartPolicyServer(addr string) (*PolicyServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fleet policy server: %w", err)
	}
	s := &PolicyServer{Addr: ln.Addr().String(), certs: map[string]*tls.Certificate{}, handlers: map[string]http.HandlerFunc{}, byHost: map[string]int{}}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(s.serve),
		TLSConfig: &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if c, ok := s.certs[strings.ToLower(hello.ServerName)]; ok {
				return c, nil
			}
			return nil, fmt.Errorf("no certificate for %q", hello.ServerName)
		}}}
	go s.srv.ServeTLS(ln, "", "")
	return s, nil
}

// policyHost is the name an MTA-STS policy of domain is fetched from.
func policyHost(domain string) string {
	return "mta-sts." + strings.ToLower(strings.TrimSuffix(domain, "."))
}

// Serve makes the server answer for mta-sts.DOMAIN with cert and policy (as text/plain).
func (s *PolicyServer) Serve(domain string, cert tls.Certificate, policy string) {
	s.Handle(domain, cert, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, policy)
	})
}

// Handle makes the server answer for mta-sts.DOMAIN with cert and h (a
// redirect, a wrong content type: what a broken policy host does).
func (s *PolicyServer) Handle(domain string, cert tls.Certificate, h http.HandlerFunc) {
	host := policyHost(domain)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certs[host] = &cert
	s.handlers[host] = h
}

// Fetches returns how many policies were served.
func (s *PolicyServer) Fetches() int { return int(s.fetches.Load()) }

// FetchesOf returns how many times the policy of each domain was served, by policy host.
func (s *PolicyServer) FetchesOf() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.byHost))
	for h, n := range s.byHost {
		out[h] = n
	}
	return out
}

// Close stops the server.
func (s *PolicyServer) Close() { s.srv.Close() }

func (s *PolicyServer) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	host = strings.ToLower(host)
	s.mu.Lock()
	h, ok := s.handlers[host]
	ok = ok && r.URL.Path == "/.well-known/mta-sts.txt"
	if ok {
		s.byHost[host]++
	}
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.fetches.Add(1)
	h(w, r)
}

// TLSA311 returns the DANE-EE SPKI SHA-256 record data of cert's leaf: "3 1 1 <hex>".
func TLSA311(cert tls.Certificate) string {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return ""
		}
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return "3 1 1 " + hex.EncodeToString(sum[:])
}
