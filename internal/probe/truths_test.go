package probe

// Tests of issue 10: implicit TLS on a STARTTLS port (item 7), client
// certificates (item 5), one handshake per key type (item 4) and the EHLO
// name (item 8), against the fleet's real SMTP+TLS servers on 127.0.0.1.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// testPKI is a root, an intermediate, RSA and ECDSA server certificates
// for mx.example.net, and a client certificate from another root.
type testPKI struct {
	root, inter      *fleet.CA
	rsa, ecdsa       *fleet.Issued
	clientRoot       *fleet.CA
	client, stranger *fleet.Issued
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	now := time.Now()
	long := fleet.CertSpec{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	spec := func(cn string, rsaBits int, eku ...x509.ExtKeyUsage) fleet.CertSpec {
		s := long
		s.CommonName, s.RSABits, s.ExtKeyUse = cn, rsaBits, eku
		if eku == nil {
			s.DNSNames = []string{cn}
		}
		return s
	}
	var p testPKI
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	p.root, err = fleet.NewRoot(spec("Test Root", 0))
	must(err)
	p.inter, err = p.root.SubCA(spec("Test Issuing CA", 0))
	must(err)
	p.rsa, err = p.inter.Issue(spec("mx.example.net", 2048))
	must(err)
	p.ecdsa, err = p.inter.Issue(spec("mx.example.net", 0))
	must(err)
	p.clientRoot, err = fleet.NewRoot(spec("Our Client Root", 0))
	must(err)
	p.client, err = p.clientRoot.Issue(spec("relay.audit.test", 0, x509.ExtKeyUsageClientAuth))
	must(err)
	p.stranger, err = fleet.SelfSigned(spec("stranger.audit.test", 0, x509.ExtKeyUsageClientAuth))
	must(err)
	return &p
}

func listen(t *testing.T, b fleet.Behavior) string {
	t.Helper()
	s, err := fleet.Listen("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr
}

// TestImplicitTLSOnStartTLSPort: an implicit-TLS server (openssl s_server
// on 25) probed with STARTTLS says nothing; the probe names the case
// instead of reporting a Timeout with a firewall remedy (item 7).
func TestImplicitTLSOnStartTLSPort(t *testing.T) {
	p := newTestPKI(t)
	const deadline = 1500 * time.Millisecond
	tests := []struct {
		name      string
		b         fleet.Behavior
		want      audit.Verdict
		implicit  bool
		wantChain int
	}{
		{"implicit TLS server", fleet.Behavior{Implicit: true, Cert: p.rsa.TLSCert(p.inter.Cert)}, audit.ProtocolError, true, 2},
		{"implicit TLS, one connection at a time (openssl s_server)", fleet.Behavior{Implicit: true, OneAtATime: true, Cert: p.rsa.TLSCert(p.inter.Cert)}, audit.ProtocolError, true, 2},
		{"silent server, not TLS either", fleet.Behavior{NoGreeting: true}, audit.Timeout, false, 0},
		{"TLS-looking garbage", fleet.Behavior{Hostile: fleet.Garbage}, audit.ProtocolError, false, 0},
		// The TLS attempt starts 1 s in; the greeting still counts after it.
		{"late greeting (postscreen)", fleet.Behavior{GreetDelay: 1200 * time.Millisecond, DropEarly: true, Cert: p.rsa.TLSCert(p.inter.Cert)}, "", false, 2},
		{"late greeting, no postscreen", fleet.Behavior{GreetDelay: 1200 * time.Millisecond, Cert: p.rsa.TLSCert(p.inter.Cert)}, "", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := listen(t, tt.b)
			start := time.Now()
			obs := Probe(context.Background(), audit.Target{Host: "mx.example.net", TLS: audit.StartTLS}, addr, Options{HELO: "audit.test", Timeout: deadline})
			if el := time.Since(start); el > deadline+300*time.Millisecond {
				t.Errorf("probe took %v, deadline %v", el, deadline)
			}
			got := audit.Verdict("")
			if obs.Err != nil {
				got = obs.Err.Verdict
			}
			if got != tt.want {
				t.Fatalf("got %v, want %q", obs.Err, tt.want)
			}
			if got := obs.Err != nil && errors.Is(obs.Err, ErrImplicitTLS); got != tt.implicit {
				t.Errorf("ErrImplicitTLS = %v, want %v (%v)", got, tt.implicit, obs.Err)
			}
			if tt.implicit && !strings.Contains(obs.Err.Error(), "the server speaks TLS at once: set tls=implicit") {
				t.Errorf("detail %q", obs.Err)
			}
			if len(obs.Chain) != tt.wantChain {
				t.Errorf("%d certificates kept, want %d", len(obs.Chain), tt.wantChain)
			}
			if tt.implicit && !slices.ContainsFunc(obs.SMTP.Transcript, func(l string) bool { return strings.Contains(l, "no ECDSA certificate (handshake:") }) {
				t.Errorf("the extra handshake did not speak implicit TLS:\n%s", strings.Join(obs.SMTP.Transcript, "\n"))
			}
		})
	}
}

// TestClientCertificate: servers that ask for a client certificate (item 5).
func TestClientCertificate(t *testing.T) {
	p := newTestPKI(t)
	ours := p.client.TLSCert()
	stranger := p.stranger.TLSCert()
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.clientRoot.Cert)
	tests := []struct {
		name          string
		max           uint16
		auth          tls.ClientAuthType
		postfix       bool // smtpd_tls_req_ccert: TLS completes, EHLO gets 421
		cert          *tls.Certificate
		want          audit.Verdict // "" for a complete probe
		wantSent      bool
		wantChain     bool // the server's chain was seen before the refusal
		wantInMessage string
	}{
		{"TLS 1.3 required, none sent", tls.VersionTLS13, tls.RequireAndVerifyClientCert, false, nil, audit.ClientCertificateRequired, false, true, "--client-cert"},
		{"TLS 1.2 required, none sent", tls.VersionTLS12, tls.RequireAndVerifyClientCert, false, nil, audit.ClientCertificateRequired, false, true, "--client-cert"},
		{"TLS 1.3 ours accepted", tls.VersionTLS13, tls.RequireAndVerifyClientCert, false, &ours, "", true, true, ""},
		{"TLS 1.2 ours accepted", tls.VersionTLS12, tls.RequireAndVerifyClientCert, false, &ours, "", true, true, ""},
		{"TLS 1.3 untrusted one refused", tls.VersionTLS13, tls.RequireAndVerifyClientCert, false, &stranger, audit.ClientCertificateRequired, true, true, "refused ours"},
		{"TLS 1.2 untrusted one refused", tls.VersionTLS12, tls.RequireAndVerifyClientCert, false, &stranger, audit.ClientCertificateRequired, true, true, "refused ours"},
		{"asked but optional", tls.VersionTLS13, tls.VerifyClientCertIfGiven, false, nil, "", false, true, ""},
		// As the Postfix 3.7 by hand answered (see testdata/transcripts/postfix-req-ccert.txt).
		{"Postfix req_ccert, none sent", tls.VersionTLS13, 0, true, nil, audit.ClientCertificateRequired, false, true, "No client certificate presented"},
		{"Postfix req_ccert, untrusted one", tls.VersionTLS12, 0, true, &stranger, audit.ClientCertificateRequired, true, true, "Client certificate not trusted"},
		{"Postfix req_ccert, ours", tls.VersionTLS13, 0, true, &ours, "", true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := listen(t, fleet.Behavior{Cert: p.rsa.TLSCert(p.inter.Cert), MaxVersion: tt.max, ClientAuth: tt.auth, ClientCertSMTP: tt.postfix, ClientCAs: clientCAs})
			obs := Probe(context.Background(), audit.Target{Host: "mx.example.net", TLS: audit.StartTLS}, addr, Options{HELO: "audit.test", Timeout: 3 * time.Second, ClientCert: tt.cert, OneKeyType: true})
			got := audit.Verdict("")
			if obs.Err != nil {
				got = obs.Err.Verdict
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, obs.Err, tt.want)
			}
			if !obs.SMTP.ClientCertRequested || obs.SMTP.ClientCertSent != tt.wantSent {
				t.Errorf("requested %v sent %v, want true %v", obs.SMTP.ClientCertRequested, obs.SMTP.ClientCertSent, tt.wantSent)
			}
			if tt.wantChain != (len(obs.Chain) == 2) {
				t.Errorf("%d certificates seen", len(obs.Chain))
			}
			if tt.want == "" && len(obs.SMTP.EHLOTLS) == 0 {
				t.Error("no EHLO after TLS")
			}
			var cce *ClientCertError
			if tt.want != "" && (!errors.As(obs.Err, &cce) || !strings.Contains(obs.Err.Error(), tt.wantInMessage)) {
				t.Errorf("error %v: want a ClientCertError saying %q", obs.Err, tt.wantInMessage)
			}
		})
	}
	// A server that never asks keeps our certificate to ourselves.
	addr := listen(t, fleet.Behavior{Cert: p.rsa.TLSCert(p.inter.Cert)})
	obs := Probe(context.Background(), audit.Target{Host: "mx.example.net"}, addr, Options{HELO: "audit.test", Timeout: 3 * time.Second, ClientCert: &ours, OneKeyType: true})
	if obs.Err != nil || obs.SMTP.ClientCertRequested || obs.SMTP.ClientCertSent {
		t.Errorf("plain server: %v, requested %v, sent %v", obs.Err, obs.SMTP.ClientCertRequested, obs.SMTP.ClientCertSent)
	}
}

// TestKeyTypes: a server holding an RSA and an ECDSA certificate is seen
// with both (item 4); a server with one costs one quick extra handshake.
func TestKeyTypes(t *testing.T) {
	p := newTestPKI(t)
	rsaChain := p.rsa.TLSCert(p.inter.Cert)
	ecdsaChain := p.ecdsa.TLSCert(p.inter.Cert)
	ecdsaBare := p.ecdsa.TLSCert() // intermediate missing
	tests := []struct {
		name      string
		mode      audit.TLSMode
		b         fleet.Behavior
		first     string
		others    []string
		otherLen  int // certificates in the other chain
		otherNote string
	}{
		{"RSA only", audit.StartTLS, fleet.Behavior{Cert: rsaChain}, "RSA", nil, 0, "no ECDSA certificate"},
		{"ECDSA only", audit.StartTLS, fleet.Behavior{Cert: ecdsaChain}, "ECDSA", nil, 0, "no RSA certificate"},
		{"RSA and ECDSA missing its intermediate", audit.StartTLS, fleet.Behavior{Cert: rsaChain, Certs: []tls.Certificate{ecdsaBare}}, "RSA", []string{"ECDSA"}, 1, "also holds an ECDSA certificate"},
		{"ECDSA first, RSA", audit.StartTLS, fleet.Behavior{Cert: ecdsaChain, Certs: []tls.Certificate{rsaChain}}, "ECDSA", []string{"RSA"}, 2, "also holds an RSA certificate"},
		{"implicit TLS, both", audit.Implicit, fleet.Behavior{Implicit: true, Cert: rsaChain, Certs: []tls.Certificate{ecdsaBare}}, "RSA", []string{"ECDSA"}, 1, "also holds an ECDSA certificate"},
		{"TLS 1.3 only, both", audit.StartTLS, fleet.Behavior{MinVersion: tls.VersionTLS13, Cert: rsaChain, Certs: []tls.Certificate{ecdsaBare}}, "RSA", nil, 0, "no ECDSA certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := listen(t, tt.b)
			obs := Probe(context.Background(), audit.Target{Host: "mx.example.net", TLS: tt.mode}, addr, Options{HELO: "audit.test", Timeout: 3 * time.Second})
			if obs.Err != nil {
				t.Fatalf("probe: %v", obs.Err)
			}
			if got := KeyTypeOf(obs.Chain); got != tt.first {
				t.Errorf("first handshake got %s, want %s", got, tt.first)
			}
			var others []string
			for _, o := range obs.Others {
				others = append(others, o.KeyType)
				if KeyTypeOf(o.Chain) != o.KeyType || len(o.Chain) != tt.otherLen || o.TLSVersion != tls.VersionTLS12 {
					t.Errorf("other %s: leaf %s, %d certificates, version %x", o.KeyType, KeyTypeOf(o.Chain), len(o.Chain), o.TLSVersion)
				}
			}
			if !slices.Equal(others, tt.others) {
				t.Errorf("other key types %v, want %v", others, tt.others)
			}
			if !slices.ContainsFunc(obs.SMTP.Transcript, func(l string) bool { return strings.Contains(l, tt.otherNote) }) {
				t.Errorf("transcript does not say %q:\n%s", tt.otherNote, strings.Join(obs.SMTP.Transcript, "\n"))
			}
		})
	}
}

// TestEHLOName: without a fully qualified host name the probe sends an
// address literal of its local side, which Postfix's
// reject_non_fqdn_helo_hostname accepts (item 8).
func TestEHLOName(t *testing.T) {
	lit := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 4711}, "[192.0.2.10]"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.10")}, "[192.0.2.10]"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Zone: "eth0"}, "[IPv6:2001:db8::1]"},
		{&net.TCPAddr{IP: net.ParseIP("::1")}, "[IPv6:::1]"},
	}
	for _, tt := range lit {
		if got := AddressLiteral(tt.addr); got != tt.want {
			t.Errorf("AddressLiteral(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	for name, want := range map[string]string{"vm": "", "localhost": "", "mx1.example.org": "mx1.example.org", ".example": "", "vm.": ""} {
		if got := qualified(name); got != want {
			t.Errorf("qualified(%q) = %q, want %q", name, got, want)
		}
	}

	hosts := t.TempDir() + "/hosts"
	writeFile(t, hosts, "127.0.0.1 localhost\n127.0.1.1 vm\n")
	oldHost, oldFile := hostname, hostsFile
	t.Cleanup(func() { hostname, hostsFile = oldHost, oldFile })
	hostname, hostsFile = func() (string, error) { return "vm", nil }, hosts
	if got := DefaultHELO(); got != "" {
		t.Fatalf("DefaultHELO() = %q for host vm, want none", got)
	}
	if src := HELOSource(""); !strings.Contains(src, "address literal") || !strings.Contains(src, `"vm" is not fully qualified`) {
		t.Errorf("HELOSource says %q", src)
	}
	p := newTestPKI(t)
	addr := listen(t, fleet.Behavior{Cert: p.rsa.TLSCert(p.inter.Cert), FQDNHELO: true})
	tests := []struct {
		name, helo string
		want       audit.Verdict
		sent       string
	}{
		{"the bare host name is rejected", "vm", audit.ProtocolError, "C: EHLO vm"},
		{"default: the address literal", "", "", "C: EHLO [127.0.0.1]"},
		{"a given name", "relay.audit.test", "", "C: EHLO relay.audit.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := Probe(context.Background(), audit.Target{Host: "mx.example.net"}, addr, Options{HELO: tt.helo, Timeout: 3 * time.Second, OneKeyType: true})
			got := audit.Verdict("")
			if obs.Err != nil {
				got = obs.Err.Verdict
			}
			if got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, obs.Err, tt.want)
			}
			if !slices.Contains(obs.SMTP.Transcript, tt.sent) {
				t.Errorf("transcript lacks %q:\n%s", tt.sent, strings.Join(obs.SMTP.Transcript, "\n"))
			}
		})
	}
	writeFile(t, hosts, "127.0.1.1 vm vm.corp.example\n")
	if got := DefaultHELO(); got != "vm.corp.example" {
		t.Errorf("DefaultHELO() = %q with an /etc/hosts alias, want vm.corp.example", got)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
