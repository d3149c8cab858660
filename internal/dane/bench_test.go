package dane

import (
	"crypto/x509"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkEvaluate: one MX host with a 3 1 1 and a 2 1 1 record, matched
// through DANE-TA (chain walk, signatures, names) after a DANE-EE miss.
func BenchmarkEvaluate(b *testing.B) {
	p := newPKI(b)
	in := Input{Host: "mx1.example.com", Now: now, TLS: true,
		Chains: [][]*x509.Certificate{{p.leaf.Cert, p.issuer.Cert, p.root.Cert}},
		Lookup: Lookup{HostSecure: true, Rcode: dns.RcodeSuccess, Secure: true, Records: []Record{
			For(DANEEE, SPKI, SHA2256, p.wrong.Cert), For(DANETA, SPKI, SHA2256, p.root.Cert)}}}
	b.ReportAllocs()
	for b.Loop() {
		if r := Evaluate(in); r.Status != Valid {
			b.Fatal(r.Detail)
		}
	}
}
