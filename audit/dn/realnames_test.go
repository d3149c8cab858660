package dn_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"os"
	"testing"

	"github.com/mxaudit/mxaudit/audit/dn"
	"github.com/mxaudit/mxaudit/internal/trust"
)

// rdnString prints a raw name in Go's format without losing attributes.
// pkix.Name.String() itself drops repeated CNs: a real root in this store,
// "Posta CA Root", has five CN attributes and Go prints one of them.
func rdnString(t *testing.T, raw []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		t.Fatalf("name does not parse: %v", err)
	}
	return rdns.String()
}

// TestRealRootNames round-trips the subject and issuer of every certificate
// in a real Windows root store export through each printed form.
func TestRealRootNames(t *testing.T) {
	const path = "../../../shared/testdata/windows-update-roots.sst"
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is absent: no real names to test with", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	certs, err := trust.ReadSST(data)
	if len(certs) < 400 {
		t.Fatalf("read %d certificates: %v", len(certs), err)
	}
	for _, c := range certs {
		for _, n := range []struct {
			what string
			name dn.Name
			go_  string
			win  string
		}{
			{"subject", dn.FromPKIX(c.Subject), rdnString(t, c.RawSubject), dn.Windows(c.Subject)},
			{"issuer", dn.FromPKIX(c.Issuer), rdnString(t, c.RawIssuer), dn.Windows(c.Issuer)},
		} {
			for _, s := range []string{n.go_, n.win} {
				got, err := dn.Parse(s)
				if err != nil {
					t.Errorf("%s %q: %v", n.what, s, err)
					continue
				}
				if !dn.Match(got, n.name) {
					t.Errorf("%s %q parsed to %v, want %v", n.what, s, got, n.name)
				}
			}
		}
	}
}
