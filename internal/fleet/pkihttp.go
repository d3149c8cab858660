package fleet

import (
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// pkiServer publishes the public issuing CA's CRL and certificate over HTTP
// on a loopback address, as a CA's CDP and AIA URLs would.
type pkiServer struct {
	ca      *CA
	now     time.Time
	srv     *http.Server
	base    string
	mu      sync.Mutex
	revoked []x509.RevocationListEntry
}

func startPKIServer(ca *CA, now time.Time) (*pkiServer, error) {
	ln, err := net.Listen("tcp", loopback()+":0")
	if err != nil {
		return nil, err
	}
	p := &pkiServer{ca: ca, now: now, base: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/issuing-ca-1.crl", p.crl)
	mux.HandleFunc("/issuing-ca-1.cer", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Write(ca.Cert.Raw)
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *pkiServer) CRLURL() string    { return p.base + "/issuing-ca-1.crl" }
func (p *pkiServer) IssuerURL() string { return p.base + "/issuing-ca-1.cer" }

func (p *pkiServer) revoke(serial *big.Int, reason int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = append(p.revoked, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: p.now.Add(-48 * time.Hour), ReasonCode: reason})
}

// crl signs a fresh CRL on every request.
func (p *pkiServer) crl(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	entries := append([]x509.RevocationListEntry(nil), p.revoked...)
	p.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(p.now.Unix()),
		ThisUpdate:                p.now.Add(-time.Hour),
		NextUpdate:                p.now.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, p.ca.Cert, p.ca.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

func (p *pkiServer) Close() error { return p.srv.Close() }

// closedURL returns an http URL on a loopback port where nothing listens.
func closedURL(path string) string {
	ln, err := net.Listen("tcp", loopback()+":0")
	if err != nil {
		return "http://127.0.0.1:9" + path
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + path
}
