package fleet

import (
	"fmt"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// StartMany runs n well-behaved partners, each on a loopback address of
// its own, sharing one certificate chain from the public CA; every SMTP
// reply line is delayed by lineDelay. Benchmarks use it.
func StartMany(n int, lineDelay time.Duration) (*Fleet, error) {
	now := time.Now()
	p, err := newPKI(now)
	if err != nil {
		return nil, err
	}
	spec := p.leaf(nil, "*.bench.example")
	is, err := p.pubInter.Issue(spec)
	if err != nil {
		return nil, err
	}
	cert := is.TLSCert(p.pubInter.Cert)
	f := &Fleet{Now: now, RootsPEM: PEM(p.pubRoot.Cert), Resolver: &Resolver{hosts: map[string][]string{}},
		PublicRoot: p.pubRoot, PublicInter: p.pubInter, PrivateRoots: map[string][]byte{}}
	for i := range n {
		host := fmt.Sprintf("mx%d.bench.example", i)
		// Replies are as short as SMTP allows (EHLO: the name and STARTTLS),
		// so every probe costs 5 reply lines, 250 ms at 50 ms a line.
		s, err := Listen(loopback()+":0", Behavior{Name: host, Cert: cert, LineDelay: lineDelay, EHLO: []string{}})
		if err != nil {
			f.Close()
			return nil, err
		}
		f.closers = append(f.closers, func() { s.Close() })
		f.Scenarios = append(f.Scenarios, Scenario{
			Partner: audit.Partner{Name: fmt.Sprintf("Partner %04d", i), Domain: "bench.example", Host: host, Address: s.Addr, Port: 25, TLS: audit.StartTLS},
			Server:  s, Expect: []audit.Verdict{audit.Valid},
		})
	}
	return f, nil
}
