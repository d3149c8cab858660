package fleet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
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

// DomainBench describes a fleet of partners known by their domain only, for benchmarks.
type DomainBench struct {
	Domains   int           // partner domains, two MX hosts each
	Shared    float64       // the fraction of them whose two MX are among the provider's hosts
	Providers int           // the provider's MX hosts, shared by those domains
	LineDelay time.Duration // before every SMTP reply line
	DNSDelay  time.Duration // before every DNS answer
	// Published: every domain publishes MTA-STS (mode enforce, its policy
	// served by Fleet.Policies), TLS-RPT and a TLSA record for each MX
	// host, and the DNS answers carry the AD bit (a trusted validating resolver).
	Published bool
}

// StartDomainBench runs the partners of b: each domain's two MX hosts
// (its own, or two of the provider's) on loopback addresses of their own,
// all on one port, and a DNS server (answering after b.DNSDelay) holding
// their MX and A records. The fleet's partners are rows with a domain only.
func StartDomainBench(b DomainBench) (*Fleet, *DNSServer, error) {
	now := time.Now()
	p, err := newPKI(now)
	if err != nil {
		return nil, nil, err
	}
	f := &Fleet{Now: now, RootsPEM: PEM(p.pubRoot.Cert), Resolver: &Resolver{hosts: map[string][]string{}},
		PublicRoot: p.pubRoot, PublicInter: p.pubInter, PrivateRoots: map[string][]byte{}, rcodes: map[string]int{}}
	shared := int(float64(b.Domains) * b.Shared)
	var specs []listenSpec
	var provider []string
	var published []publishedDomain
	if shared > 0 {
		for k := range max(b.Providers, 2) {
			provider = append(provider, fmt.Sprintf("mx%d.provider.example", k+1))
		}
		cert, err := p.issue(p.pubInter, p.leaf(nil, provider...))
		if err != nil {
			return nil, nil, err
		}
		for _, h := range provider {
			specs = append(specs, listenSpec{host: h, ip: loopback(), b: Behavior{Name: h, Cert: cert, LineDelay: b.LineDelay, EHLO: []string{}}})
		}
	}
	for i := range b.Domains {
		d := fmt.Sprintf("d%04d.example", i)
		row := audit.Partner{Name: fmt.Sprintf("Partner %04d", i), Domain: d, TLS: audit.StartTLS}
		mx := []string{"mx1." + d, "mx2." + d}
		if i < shared {
			mx = []string{provider[i%len(provider)], provider[(i+1)%len(provider)]}
		} else {
			cert, err := p.issue(p.pubInter, p.leaf(nil, mx...))
			if err != nil {
				return nil, nil, err
			}
			for _, h := range mx {
				specs = append(specs, listenSpec{host: h, ip: loopback(), b: Behavior{Name: h, Cert: cert, LineDelay: b.LineDelay, EHLO: []string{}}})
			}
		}
		f.zone = append(f.zone, fmt.Sprintf("%s. 300 IN MX 10 %s.", d, mx[0]), fmt.Sprintf("%s. 300 IN MX 20 %s.", d, mx[1]))
		if b.Published {
			pattern := "*." + d
			if i < shared {
				pattern = "*.provider.example"
			}
			published = append(published, publishedDomain{domain: d, pattern: pattern})
		}
		f.Scenarios = append(f.Scenarios, Scenario{Partner: row, Expect: []audit.Verdict{audit.Valid}, Domain: &DomainScenario{Targets: 2}})
	}
	servers, port, err := listenSamePort(specs)
	if err != nil {
		return nil, nil, err
	}
	f.port = port
	for i, s := range servers {
		f.closers = append(f.closers, func() { s.Close() })
		f.servers = append(f.servers, s)
		f.zone = append(f.zone, fmt.Sprintf("%s. 300 IN A %s", specs[i].host, specs[i].ip))
	}
	for i := range f.Scenarios {
		f.Scenarios[i].Partner.Port = port
	}
	if b.Published {
		if err := f.publish(p, published, specs, port); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	ns, err := f.ServeDNS(DNSOptions{Delay: b.DNSDelay, AD: b.Published})
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, ns, nil
}

// Lines returns how many SMTP reply lines the fleet's servers have written.
func (f *Fleet) Lines() int64 {
	var n int64
	for _, sc := range f.Scenarios {
		if sc.Server != nil {
			n += sc.Server.Lines()
		}
	}
	for _, s := range f.servers {
		n += s.Lines()
	}
	return n
}

// listenSpec is one server to start: its host name, address and behaviour.
type listenSpec struct {
	host, ip string
	b        Behavior
}

// listenSamePort starts every server on one port (free on all their
// addresses), trying again with another port when one is taken.
func listenSamePort(specs []listenSpec) ([]*Server, int, error) {
	var err error
	for range 20 {
		var out []*Server
		port := 0
		for _, sp := range specs {
			var s *Server
			if s, err = Listen(net.JoinHostPort(sp.ip, strconv.Itoa(port)), sp.b); err != nil {
				break
			}
			if port == 0 {
				_, ps, _ := net.SplitHostPort(s.Addr)
				port, _ = strconv.Atoi(ps)
			}
			out = append(out, s)
		}
		if err == nil {
			return out, port, nil
		}
		for _, s := range out {
			s.Close()
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, 0, err
}

// publishedDomain is a bench domain that publishes its policies.
type publishedDomain struct{ domain, pattern string }

// publish starts f.Policies and adds the MTA-STS, TLS-RPT and TLSA records of ds to f's zone.
func (f *Fleet) publish(p *pki, ds []publishedDomain, specs []listenSpec, port int) error {
	ps, err := StartPolicyServer(loopback() + ":0")
	if err != nil {
		return err
	}
	f.Policies = ps
	f.closers = append(f.closers, ps.Close)
	ip, _, _ := net.SplitHostPort(ps.Addr)
	for _, d := range ds {
		host := "mta-sts." + d.domain
		cert, err := p.issue(p.pubInter, p.leaf(nil, host))
		if err != nil {
			return err
		}
		ps.Serve(d.domain, cert, fmt.Sprintf("version: STSv1\r\nmode: enforce\r\nmx: %s\r\nmax_age: 604800\r\n", d.pattern))
		f.zone = append(f.zone, fmt.Sprintf("_mta-sts.%s. 300 IN TXT \"v=STSv1; id=20260601\"", d.domain),
			fmt.Sprintf("%s. 300 IN A %s", host, ip),
			fmt.Sprintf("_smtp._tls.%s. 300 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@%s\"", d.domain, d.domain))
	}
	for _, sp := range specs {
		f.zone = append(f.zone, fmt.Sprintf("_%d._tcp.%s. 300 IN TLSA %s", port, sp.host, TLSA311(sp.b.Cert)))
	}
	return nil
}
