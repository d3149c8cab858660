package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// TestResultTruths runs issue 10's cases through the whole result building:
// a service port reached via another port (item 1), a server with an RSA
// and an ECDSA certificate (item 4), and one that requires a client
// certificate (item 5).
func TestResultTruths(t *testing.T) {
	now := time.Now()
	long := fleet.CertSpec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	spec := func(cn string, rsaBits int) fleet.CertSpec {
		s := long
		s.CommonName, s.DNSNames, s.RSABits = cn, []string{cn}, rsaBits
		return s
	}
	root, err := fleet.NewRoot(spec("Truths Root", 0))
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.SubCA(spec("Truths Issuing CA", 0))
	if err != nil {
		t.Fatal(err)
	}
	rsaLeaf, err := inter.Issue(spec("mx.partner.example", 2048))
	if err != nil {
		t.Fatal(err)
	}
	ecLeaf, err := inter.Issue(spec("mx.partner.example", 0))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	good := rsaLeaf.TLSCert(inter.Cert)

	tests := []struct {
		name     string
		b        fleet.Behavior
		port     int
		want     []audit.Verdict
		keyTypes []string // of Certificates
		detail   string   // in the primary verdict's detail
	}{
		{"port 25 via another port", fleet.Behavior{Cert: good}, 25, []audit.Verdict{audit.Valid}, nil, ""},
		{"RSA good, ECDSA missing its intermediate", fleet.Behavior{Cert: good, Certs: []tls.Certificate{ecLeaf.TLSCert()}}, 25,
			[]audit.Verdict{audit.PartialChain}, []string{"RSA", "ECDSA"}, "ECDSA certificate: "},
		{"RSA and ECDSA both good", fleet.Behavior{Cert: good, Certs: []tls.Certificate{ecLeaf.TLSCert(inter.Cert)}}, 25,
			[]audit.Verdict{audit.Valid}, []string{"RSA", "ECDSA"}, ""},
		{"client certificate required", fleet.Behavior{Cert: good, ClientAuth: tls.RequireAnyClientCert}, 25,
			[]audit.Verdict{audit.ClientCertificateRequired}, nil, "--client-cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := fleet.Listen("127.0.0.1:0", tt.b)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := audit.Partner{Name: "Partner", Host: "mx.partner.example", Port: tt.port, Address: s.Addr, TLS: audit.StartTLS}
			res := ProbeAll(context.Background(), []audit.Partner{p}, Options{
				Probe: probe.Options{HELO: "audit.test", Timeout: 3 * time.Second}, Roots: pool, Now: now,
			})
			r := res.Partners[0]
			if !slices.Equal(r.Verdicts, tt.want) || r.Verdict != tt.want[0] {
				t.Fatalf("verdicts %v (%s), want %v; details %v", r.Verdicts, r.Verdict, tt.want, r.Details)
			}
			if r.Port != tt.port || r.SMTP.RemoteAddr != s.Addr {
				t.Errorf("port %d via %s, want %d via %s", r.Port, r.SMTP.RemoteAddr, tt.port, s.Addr)
			}
			if r.Verdict != audit.Valid && r.Remedy == "" {
				t.Error("no remedy")
			}
			if !strings.Contains(r.Details[r.Verdict], tt.detail) {
				t.Errorf("detail %q lacks %q", r.Details[r.Verdict], tt.detail)
			}
			var kts []string
			for _, c := range r.Certificates {
				kts = append(kts, c.KeyType)
				if len(c.Chain) == 0 || c.Chain[0].KeyType != c.KeyType || len(c.Verdicts) == 0 {
					t.Errorf("certificate %s: %+v", c.KeyType, c)
				}
			}
			if !slices.Equal(kts, tt.keyTypes) {
				t.Errorf("certificates %v, want %v", kts, tt.keyTypes)
			}
			if len(r.Certificates) == 2 {
				// Chain stays the first handshake's; each key type keeps its own verdicts.
				if r.Chain[0].SHA256 != r.Certificates[0].Chain[0].SHA256 || r.Chain[0].KeyType != "RSA" {
					t.Errorf("chain is not the RSA one: %s", r.Chain[0].KeyType)
				}
				if !slices.Equal(r.Certificates[0].Verdicts, []audit.Verdict{audit.Valid}) || r.Certificates[1].Verdicts[0] != tt.want[0] {
					t.Errorf("per key type verdicts %v / %v", r.Certificates[0].Verdicts, r.Certificates[1].Verdicts)
				}
			}
		})
	}
}
