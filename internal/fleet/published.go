package fleet

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/mxaudit/mxaudit/audit"
)

// The policy partners of the fleet (Options.Policies): domains that
// publish DANE, MTA-STS and TLS-RPT, one per verdict of issue 13. Names
// under SecureZone get the AD bit from the fleet's DNS server, which plays
// a trusted validating resolver in front of a signed zone (a run must
// trust it: --dnssec-resolver-trusted, on by default for 127.0.0.1); a
// TLSA name it answers SERVFAIL for is bogus. Policies are served by
// Fleet.Policies on a loopback address.

// SecureZone is the fleet's zone whose answers carry the AD bit.
const SecureZone = "signed.example"

// policyScenario is one partner that publishes policies.
type policyScenario struct {
	name, label string // the domain is label.SecureZone when secure, else label.example
	secure      bool
	tlsa        string // "leaf" (3 1 1 of the served key), "other" (a key never served), "servfail", "" for none
	noTLS       bool
	private     bool   // the MX certificate comes from the partner's private CA (imported by us)
	sts         string // MTA-STS: "enforce", "testing", "unlisted", "redirect", "html", "private-host", "" for none
	rpt         bool
	expect      []audit.Verdict
}

func policyScenarios() []policyScenario {
	V := func(vs ...audit.Verdict) []audit.Verdict { return vs }
	return []policyScenario{
		{name: "DANE Valid AG", label: "dane-valid", secure: true, tlsa: "leaf", sts: "enforce", rpt: true, expect: V(audit.Valid)},
		{name: "DANE Stale TLSA GmbH", label: "dane-stale", secure: true, tlsa: "other", rpt: true, expect: V(audit.TlsaMismatch)},
		{name: "DANE No TLS Ltd", label: "dane-notls", secure: true, tlsa: "leaf", noTLS: true, expect: V(audit.NoStartTLS, audit.DaneRequiredNoTLS)},
		{name: "DNSSEC Bogus SA", label: "dnssec-bogus", secure: true, tlsa: "servfail", expect: V(audit.DnssecBogus)},
		{name: "STS Unlisted MX BV", label: "sts-unlisted", sts: "unlisted", rpt: true, expect: V(audit.StsMxMismatch)},
		{name: "STS Private CA Oy", label: "sts-private", private: true, sts: "enforce", expect: V(audit.StsCertificateNotTrusted)},
		{name: "STS Testing AB", label: "sts-testing", private: true, sts: "testing", expect: V(audit.Valid)},
		{name: "STS Redirect SRL", label: "sts-redirect", sts: "redirect", expect: V(audit.StsPolicyFetchError)},
		{name: "STS HTML Policy Kft", label: "sts-html", sts: "html", expect: V(audit.StsPolicyInvalid)},
		{name: "STS Private Policy Host AS", label: "sts-privhost", sts: "private-host", expect: V(audit.StsWebPkiInvalid)},
	}
}

func (sc policyScenario) domain() string {
	if sc.secure {
		return sc.label + "." + SecureZone
	}
	return sc.label + ".example"
}

// addPolicies starts the MX servers and the policy host of the policy
// partners and adds their scenarios and zone.
func (f *Fleet) addPolicies(p *pki, opts Options) error {
	scs := policyScenarios()
	var specs []listenSpec
	certs := make([]tls.Certificate, len(scs))
	for i, sc := range scs {
		mx := "mx." + sc.domain()
		ca := p.pubInter
		if sc.private {
			ca = p.private
		}
		cert, err := p.issue(ca, p.leaf(nil, mx))
		if err != nil {
			return err
		}
		certs[i] = cert
		specs = append(specs, listenSpec{host: mx, ip: loopback(), b: Behavior{Name: mx, Cert: cert, NoStartTLS: sc.noTLS, LineDelay: opts.LineDelay}})
	}
	servers, port, err := listenSamePort(specs)
	if err != nil {
		return err
	}
	ps, err := StartPolicyServer(loopback() + ":0")
	if err != nil {
		for _, s := range servers {
			s.Close()
		}
		return err
	}
	f.Policies = ps
	f.closers = append(f.closers, ps.Close)
	f.secure = append(f.secure, SecureZone)
	other, err := p.issue(p.pubInter, p.leaf(nil, "next.signed.example"))
	if err != nil {
		return err
	}
	psIP, _, _ := net.SplitHostPort(ps.Addr)
	for i, sc := range scs {
		s := servers[i]
		f.closers = append(f.closers, func() { s.Close() })
		d, mx := sc.domain(), specs[i].host
		ip, _, _ := net.SplitHostPort(s.Addr)
		f.zone = append(f.zone, fmt.Sprintf("%s. 300 IN MX 10 %s.", d, mx), fmt.Sprintf("%s. 300 IN A %s", mx, ip))
		tlsaName := fmt.Sprintf("_%d._tcp.%s.", port, mx)
		switch sc.tlsa {
		case "leaf":
			f.zone = append(f.zone, fmt.Sprintf("%s 300 IN TLSA %s", tlsaName, TLSA311(certs[i])))
		case "other":
			f.zone = append(f.zone, fmt.Sprintf("%s 300 IN TLSA %s", tlsaName, TLSA311(other)))
		case "servfail":
			f.rcodes[strings.TrimSuffix(tlsaName, ".")] = mdns.RcodeServerFailure
		}
		if sc.rpt {
			f.zone = append(f.zone, fmt.Sprintf("_smtp._tls.%s. 300 IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@%s\"", d, d))
		}
		if sc.sts != "" {
			if err := f.publishSTS(p, ps, psIP, sc, mx); err != nil {
				return err
			}
		}
		row := audit.Partner{Name: sc.name, Domain: d, Port: port, TLS: audit.StartTLS, Contact: "postmaster@" + d}
		f.Scenarios = append(f.Scenarios, Scenario{Partner: row, Expect: sc.expect, Domain: &DomainScenario{Targets: 1}})
	}
	return nil
}

// publishSTS serves the MTA-STS policy of sc's domain (or what a broken policy host answers).
func (f *Fleet) publishSTS(p *pki, ps *PolicyServer, psIP string, sc policyScenario, mx string) error {
	d := sc.domain()
	host := "mta-sts." + d
	ca := p.pubInter
	if sc.sts == "private-host" {
		ca = p.private
	}
	cert, err := p.issue(ca, p.leaf(nil, host))
	if err != nil {
		return err
	}
	f.zone = append(f.zone, fmt.Sprintf("_mta-sts.%s. 300 IN TXT \"v=STSv1; id=20260601T000000\"", d), fmt.Sprintf("%s. 300 IN A %s", host, psIP))
	policy := func(mode, pattern string) string {
		return fmt.Sprintf("version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: 604800\r\n", mode, pattern)
	}
	switch sc.sts {
	case "enforce", "private-host":
		ps.Serve(d, cert, policy("enforce", "*."+d))
	case "testing":
		ps.Serve(d, cert, policy("testing", mx))
	case "unlisted":
		ps.Serve(d, cert, policy("enforce", "mail.old-"+d))
	case "redirect":
		ps.Handle(d, cert, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://www."+d+"/mta-sts.txt", http.StatusMovedPermanently)
		})
	case "html":
		ps.Handle(d, cert, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>"+policy("enforce", "*."+d)+"</body></html>")
		})
	}
	return nil
}
