package fleet

import (
	"crypto/tls"
	"fmt"
	"net"

	mdns "github.com/miekg/dns"

	"github.com/mxaudit/mxaudit/audit"
)

// The domain partners of the fleet (Options.Domains): inventory rows
// without host, found through the fleet's DNS server (ServeDNS), their
// servers on distinct loopback addresses and ::1, all on one port (the
// fleet cannot bind port 25; the rows carry the port, as an inventory may).

// mxServer is one simulated MX address: a host name, its address and the certificate it serves.
type mxServer struct {
	host string
	v6   bool // on ::1
	alt  bool // on the second port (the IPv6-only MX: ::1 is one address)
	cert func(p *pki) (tls.Certificate, error)
}

// domainScenario is one partner known by its domain only.
type domainScenario struct {
	name, domain string
	rows         []string // more domains of the same partner (rows of the same name)
	host         string   // a row naming this host and domain (drift): its own server
	enforced     bool
	alt          bool // the row uses the second port
	records      []string
	rcode        int
	expect       []audit.Verdict
	targets      int
}

// DomainScenario is what a domain partner of the fleet must show beyond its verdicts.
type DomainScenario struct {
	Targets int // how many targets its result must have
}

func domainScenarios() []domainScenario {
	V := func(vs ...audit.Verdict) []audit.Verdict { return vs }
	return []domainScenario{
		{name: "Contoso Shipping", domain: "contoso-shipping.example", enforced: true, records: []string{
			"contoso-shipping.example. 300 IN MX 10 mx1.contoso-shipping.example.",
			"contoso-shipping.example. 300 IN MX 20 mx2.contoso-shipping.example.",
		}, expect: V(audit.Expired), targets: 2},
		{name: "Dual Stack AG", domain: "dualstack.example", records: []string{
			"dualstack.example. 300 IN MX 10 mx.dualstack.example.",
		}, expect: V(audit.UntrustedRoot), targets: 2},
		{name: "IPv6 Only GmbH", domain: "v6only.example", alt: true, records: []string{
			"v6only.example. 300 IN MX 10 mx.v6only.example.",
		}, expect: V(audit.Valid), targets: 1},
		{name: "Implicit MX Ltd", domain: "implicit-mx.example", expect: V(audit.Valid), targets: 1},
		{name: "Null MX Inc", domain: "nullmx.example", records: []string{"nullmx.example. 300 IN MX 0 ."},
			expect: V(audit.NullMX), targets: 0},
		{name: "Hosted Partner One", domain: "hosted1.example", rows: []string{"hosted1-alt.example"}, records: providerMX("hosted1.example", "hosted1-alt.example"),
			expect: V(audit.Valid), targets: 2},
		{name: "Hosted Partner Two", domain: "hosted2.example", records: providerMX("hosted2.example"), expect: V(audit.Valid), targets: 2},
		{name: "Hosted Partner Three", domain: "hosted3.example", records: providerMX("hosted3.example"), expect: V(audit.Valid), targets: 2},
		{name: "Moved Partner", domain: "moved.example", host: "mx.old-moved.example", records: []string{
			"moved.example. 300 IN MX 10 mx1.mailprovider.example.",
		}, expect: V(audit.Valid), targets: 1},
		{name: "Sloppy DNS Co", domain: "sloppy.example", records: []string{
			"sloppy.example. 300 IN MX 10 mx.sloppy.example.",
			"mx.sloppy.example. 300 IN CNAME mx2.mailprovider.example.",
			"sloppy.example. 300 IN MX 20 gone.sloppy.example.",
			"sloppy.example. 300 IN MX 30 192.0.2.1.",
		}, expect: V(audit.NameMismatch), targets: 1},
		{name: "Vanished Corp", domain: "vanished.example", expect: V(audit.DNSError), targets: 0},
		{name: "Broken DNS GmbH", domain: "servfail.example", rcode: mdns.RcodeServerFailure, expect: V(audit.DNSError), targets: 0},
	}
}

// issue makes a leaf of ca for spec and the chain a server sends with it:
// the issuing CA when it is an intermediate, the root itself when ca is one.
func (p *pki) issue(ca *CA, spec CertSpec) (tls.Certificate, error) {
	is, err := ca.Issue(spec)
	if err != nil {
		return tls.Certificate{}, err
	}
	return is.TLSCert(ca.Cert), nil
}

func providerMX(domains ...string) []string {
	var out []string
	for _, d := range domains {
		out = append(out, d+". 300 IN MX 10 mx1.mailprovider.example.", d+". 300 IN MX 20 mx2.mailprovider.example.")
	}
	return out
}

// mxServers lists the simulated MX addresses of the domain partners.
func mxServers() []mxServer {
	valid := func(names ...string) func(p *pki) (tls.Certificate, error) {
		return func(p *pki) (tls.Certificate, error) { return p.issue(p.pubInter, p.leaf(nil, names...)) }
	}
	return []mxServer{
		{host: "mx1.contoso-shipping.example", cert: valid("mx1.contoso-shipping.example", "contoso-shipping.example")},
		{host: "mx2.contoso-shipping.example", cert: func(p *pki) (tls.Certificate, error) {
			spec := p.leaf(nil, "mx2.contoso-shipping.example", "contoso-shipping.example")
			spec.NotBefore, spec.NotAfter = p.now.Add(-day(400)), p.now.Add(-day(12))
			return p.issue(p.pubInter, spec)
		}},
		{host: "mx.dualstack.example", cert: valid("mx.dualstack.example")},
		// The IPv6 address of the same MX serves another certificate (a
		// second server behind a load balancer, never renewed the same way).
		{host: "mx.dualstack.example", v6: true, cert: func(p *pki) (tls.Certificate, error) {
			return p.issue(p.other, p.leaf(nil, "mx.dualstack.example"))
		}},
		{host: "mx.v6only.example", v6: true, alt: true, cert: valid("mx.v6only.example")},
		{host: "implicit-mx.example", cert: valid("implicit-mx.example")},
		{host: "mx1.mailprovider.example", cert: valid("mx1.mailprovider.example")},
		{host: "mx2.mailprovider.example", cert: valid("mx2.mailprovider.example")},
		{host: "mx.old-moved.example", cert: valid("mx.old-moved.example")},
	}
}

// Port returns the port the fleet's domain partners listen on (0 without them).
func (f *Fleet) Port() int { return f.port }

// AltPort returns the port of the fleet's IPv6-only MX (::1 is one address, taken on Port already).
func (f *Fleet) AltPort() int { return f.altPort }

// addDomains starts the MX servers of the domain partners on one port
// (and the IPv6-only MX on a second one) and adds their scenarios and zone.
func (f *Fleet) addDomains(p *pki, opts Options) error {
	servers := mxServers()
	if !ipv6Loopback() {
		servers = dropV6(servers) // said by the scenarios' expectations
	}
	listening, err := f.listenDomains(p, servers, opts)
	if err != nil {
		return err
	}
	byHost := map[string][]*Server{}
	for i, s := range listening {
		f.closers = append(f.closers, func() { s.Close() })
		byHost[servers[i].host] = append(byHost[servers[i].host], s)
		ip, _, _ := net.SplitHostPort(s.Addr)
		rr := "A"
		if servers[i].v6 {
			rr = "AAAA"
		}
		f.zone = append(f.zone, fmt.Sprintf("%s 300 IN %s %s", mdns.Fqdn(servers[i].host), rr, ip))
	}
	v6 := ipv6Loopback()
	for _, sc := range domainScenarios() {
		switch {
		case sc.domain == "v6only.example" && !v6:
			continue
		case sc.domain == "dualstack.example" && !v6:
			sc.expect, sc.targets = []audit.Verdict{audit.Valid}, 1
		}
		f.zone = append(f.zone, sc.records...)
		if sc.rcode != 0 {
			f.rcodes[sc.domain] = sc.rcode
		}
		port := f.port
		if sc.alt {
			port = f.altPort
		}
		row := audit.Partner{Name: sc.name, Domain: sc.domain, Port: port, TLS: audit.StartTLS, Enforced: sc.enforced}
		var srv *Server
		if sc.host != "" {
			srv = byHost[sc.host][0]
			row.Host, row.Address = sc.host, srv.Addr
		}
		f.Scenarios = append(f.Scenarios, Scenario{Partner: row, Server: srv, Expect: sc.expect, Domain: &DomainScenario{Targets: sc.targets}})
		for _, d := range sc.rows {
			more := row
			more.Domain = d
			f.Scenarios = append(f.Scenarios, Scenario{Partner: more, Expect: sc.expect, Domain: &DomainScenario{Targets: sc.targets}})
		}
	}
	return nil
}

// listenDomains starts every server on one port, the IPv6-only MX on a
// second one (::1 is one address, taken on the first already); they are
// returned in the order of servers.
func (f *Fleet) listenDomains(p *pki, servers []mxServer, opts Options) ([]*Server, error) {
	var main, alt []listenSpec
	for _, m := range servers {
		cert, err := m.cert(p)
		if err != nil {
			return nil, err
		}
		ip := loopback()
		if m.v6 {
			ip = "::1"
		}
		sp := listenSpec{host: m.host, ip: ip, b: Behavior{Name: m.host, Cert: cert, LineDelay: opts.LineDelay}}
		if m.alt {
			alt = append(alt, sp)
		} else {
			main = append(main, sp)
		}
	}
	mainSrv, port, err := listenSamePort(main)
	if err != nil {
		return nil, err
	}
	altSrv, altPort, err := listenSamePort(alt)
	if err != nil {
		for _, s := range mainSrv {
			s.Close()
		}
		return nil, err
	}
	f.port, f.altPort = port, altPort
	var out []*Server
	i, k := 0, 0
	for _, m := range servers {
		if m.alt {
			out, k = append(out, altSrv[k]), k+1
		} else {
			out, i = append(out, mainSrv[i]), i+1
		}
	}
	return out, nil
}

func dropV6(servers []mxServer) []mxServer {
	var out []mxServer
	for _, s := range servers {
		if !s.v6 {
			out = append(out, s)
		}
	}
	return out
}

// ipv6Loopback reports whether ::1 can be listened on here.
func ipv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
