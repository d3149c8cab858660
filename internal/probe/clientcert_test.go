package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

func TestLoadClientCert(t *testing.T) {
	dir := "testdata/clientcert/"
	big := filepath.Join(t.TempDir(), "big.pem")
	if err := os.WriteFile(big, make([]byte, maxCertFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(t.TempDir(), "both.pem")
	cert, _ := os.ReadFile(dir + "client.pem")
	key, _ := os.ReadFile(dir + "client.key")
	if err := os.WriteFile(both, append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, password string
		certs                     int    // certificates sent
		err                       string // in the error
	}{
		{"PEM cert and key", dir + "client.pem", dir + "client.key", "", 1, ""},
		{"PEM with the key inside", both, "", "", 1, ""},
		{"pfx AES-256 (Windows Server 2019+)", dir + "client-aes.pfx", "", "test-only", 1, ""},
		{"pfx 3DES (older Windows)", dir + "client-3des.pfx", "", "test-only", 1, ""},
		{"pfx without password", dir + "client-nopass.pfx", "", "", 1, ""},
		{"pfx wrong password", dir + "client-aes.pfx", "", "guess", 0, "client-aes.pfx: wrong password"},
		{"pfx with a key file", dir + "client-aes.pfx", dir + "client.key", "test-only", 0, "holds its own key"},
		{"encrypted PEM key", dir + "client.pem", dir + "client-enc.key", "", 0, "client-enc.key: encrypted PEM private keys are not supported"},
		{"key of another certificate", dir + "ca.pem", dir + "client.key", "", 0, "ca.pem, testdata/clientcert/client.key"},
		{"missing file", dir + "nope.pem", dir + "client.key", "", 0, "nope.pem"},
		{"too large", big, dir + "client.key", "", 0, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadClientCert(tt.cert, tt.key, tt.password)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				if tt.password != "" && strings.Contains(err.Error(), tt.password) {
					t.Errorf("the password is in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Certificate) != tt.certs {
				t.Errorf("%d certificates, want %d (the root is not sent)", len(c.Certificate), tt.certs)
			}
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil || leaf.Subject.CommonName != "relay.audit.test" {
				t.Fatalf("leaf %v, %v", leaf, err)
			}
			if p := ClientCertProblems(c, time.Now()); len(p) != 0 {
				t.Errorf("problems %v", p)
			}
			if p := ClientCertProblems(c, leaf.NotAfter.Add(time.Hour)); len(p) != 1 || !strings.Contains(p[0], "expired") {
				t.Errorf("problems after expiry %v", p)
			}
		})
	}
	if _, err := LoadClientCert(dir+"client-aes.pfx", "", "guess"); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestClientCertFromPFX presents the certificate of a Windows-style .pfx
// to a server that trusts only its root: the audit completes.
func TestClientCertFromPFX(t *testing.T) {
	c, err := LoadClientCert("testdata/clientcert/client-aes.pfx", "", "test-only")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile("testdata/clientcert/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	cas := x509.NewCertPool()
	cas.AppendCertsFromPEM(caPEM)
	srv := newTestPKI(t)
	addr := listen(t, fleet.Behavior{Cert: srv.rsa.TLSCert(srv.inter.Cert), ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cas})
	obs := Probe(context.Background(), audit.Target{Host: "mx.example.net"}, addr, Options{HELO: "audit.test", Timeout: 3 * time.Second, ClientCert: c, OneKeyType: true})
	if obs.Err != nil || !obs.SMTP.ClientCertSent || len(obs.SMTP.EHLOTLS) == 0 {
		t.Fatalf("err %v, sent %v, EHLO after TLS %q", obs.Err, obs.SMTP.ClientCertSent, obs.SMTP.EHLOTLS)
	}
}
