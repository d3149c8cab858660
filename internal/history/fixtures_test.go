package history

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// testCA is a certificate authority generated for the tests.
type testCA struct{ *fleet.CA }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newKey() *ecdsa.PrivateKey {
	return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
}

// newCA returns a self-signed CA named by subject (an organisation and common name).
func newCA(org, cn string) *testCA {
	return &testCA{must(fleet.NewRoot(fleet.CertSpec{CommonName: cn, Org: org,
		NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}))}
}

// leaf issues a server certificate for host expiring at notAfter; key nil means a new key.
func (ca *testCA) leaf(host string, notAfter time.Time, key *ecdsa.PrivateKey) audit.Cert {
	spec := fleet.CertSpec{CommonName: host, DNSNames: []string{host}, NotBefore: notAfter.AddDate(0, -3, 0), NotAfter: notAfter}
	if key != nil {
		spec.Key = key
	}
	return audit.NewCert(must(ca.Issue(spec)).Cert)
}

// chain returns leaf followed by the CA's certificate.
func (ca *testCA) chain(leaf audit.Cert) []audit.Cert {
	return []audit.Cert{leaf, audit.NewCert(ca.Cert)}
}

// result builds a partner result the way the scan would.
func result(name string, v audit.Verdict, rootSource string, chain []audit.Cert) audit.Result {
	host := "mx." + name + ".example"
	r := audit.Result{
		Partner:    audit.Partner{Name: name, Domain: name + ".example", Host: host, Port: 25, TLS: audit.StartTLS, Enforced: true, Contact: "postmaster@" + name + ".example"},
		Verdict:    v,
		Verdicts:   []audit.Verdict{v},
		Remedy:     v.Remedy(),
		Root:       audit.Root{Store: rootSource},
		Chain:      chain,
		TLSVersion: "TLS 1.3",
		Cipher:     "TLS_AES_128_GCM_SHA256",
		Findings:   []audit.Finding{},
		DurationMS: 42,
		SMTP: audit.SMTP{
			Greeting:   []string{"220 " + host + " ESMTP"},
			EHLO:       []string{"250-" + host, "250-STARTTLS", "250 8BITMIME"},
			StartTLS:   true,
			TimingsMS:  map[string]int64{"connect": 1, "greeting": 2, "handshake": 5},
			RemoteAddr: "127.0.0.1:25",
		},
	}
	if v != audit.Valid {
		r.Details = map[audit.Verdict]string{v: "test says " + string(v)}
	}
	if len(chain) > 0 {
		r.Root.Subject = chain[len(chain)-1].Issuer
	}
	if v == audit.Timeout {
		r.Chain, r.TLSVersion, r.Cipher, r.Root.Store = nil, "", "", audit.RootNone
		r.Error = "i/o timeout"
	}
	return r
}

// results wraps partner results into a run of the inventory at inv started at started.
func results(inv string, started time.Time, rs ...audit.Result) *audit.Results {
	return &audit.Results{
		Schema:          audit.SchemaVersion,
		Started:         started,
		Finished:        started.Add(90 * time.Second),
		Inventory:       inv,
		Partners:        rs,
		PrivateRoots:    []audit.PrivateRoot{},
		InventoryErrors: []audit.InventoryError{},
	}
}
