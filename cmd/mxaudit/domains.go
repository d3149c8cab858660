package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/pipeline"
)

// dnsFlags are the flags of partners by domain: where DNS is asked, which
// MX hosts and families are audited, and the per-provider limit.
func dnsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "resolver", EnvVars: []string{"MXAUDIT_RESOLVER"}, Usage: "ask the DNS resolvers at `ADDR[:PORT]`, comma-separated (default: the nameservers of /etc/resolv.conf)"},
		&cli.DurationFlag{Name: "dns-timeout", Value: dns.DefaultTimeout, Usage: "deadline for one DNS query (over UDP, and TCP when the answer is truncated)"},
		&cli.IntFlag{Name: "dns-attempts", Value: dns.DefaultAttempts, Usage: "attempts per DNS lookup, over the resolvers in turn"},
		&cli.StringFlag{Name: "mx", Value: string(discovery.AllMX), Usage: "MX hosts of a partner domain to audit: all, or primary (the most preferred)"},
		&cli.StringFlag{Name: "ip", Value: string(discovery.Both), Usage: "address families to audit: 4, 6 or both"},
		&cli.IntFlag{Name: "per-provider", Value: pipeline.DefaultPerProvider, Usage: "probes at once to the MX hosts of one provider (their registered domain)"},
		&cli.BoolFlag{Name: "follow-mx", Usage: "when a row's host is not among its domain's MX hosts, audit those MX hosts too"},
		&cli.BoolFlag{Name: "dnssec-resolver-trusted", Usage: "trust the AD bit (DNSSEC) of the resolver's answers, and so check DANE (default: on when --resolver is on this machine, 127.0.0.0/8 or ::1)"},
		&cli.BoolFlag{Name: "no-policies", Usage: "do not check the partners' published policies (DNSSEC, DANE, MTA-STS, TLS-RPT)"},
		&cli.DurationFlag{Name: "sts-timeout", Value: pipeline.DefaultFetchTimeout, Usage: "deadline for fetching one MTA-STS policy over HTTPS"},
		&cli.IntFlag{Name: "sts-port", Hidden: true, Usage: "reach MTA-STS policy hosts on this port instead of 443 (the demo's policy host)"},
	}
}

// dnsOptions reads dnsFlags into o: the DNS client of the run and the discovery settings.
func dnsOptions(c *cli.Context, o *pipeline.Options) error {
	mx, err := discovery.ParseMXMode(c.String("mx"))
	if err != nil {
		return err
	}
	ip, err := discovery.ParseFamily(c.String("ip"))
	if err != nil {
		return err
	}
	var servers []string
	for _, s := range strings.Split(c.String("resolver"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			servers = append(servers, s)
		}
	}
	r, err := dns.New(dns.Config{Servers: servers, Timeout: c.Duration("dns-timeout"), Attempts: c.Int("dns-attempts")})
	if err != nil {
		return fmt.Errorf("--resolver: %w", err)
	}
	o.DNS, o.Resolver, o.MX, o.IP = r, r, mx, ip
	o.PerProvider, o.FollowMX = c.Int("per-provider"), c.Bool("follow-mx")
	trusted := pipeline.DNSSECTrustedByDefault(r.Servers())
	if c.IsSet("dnssec-resolver-trusted") {
		trusted = c.Bool("dnssec-resolver-trusted")
	}
	o.Published = pipeline.Published{Off: c.Bool("no-policies"), DNSSECTrusted: trusted, FetchTimeout: c.Duration("sts-timeout"), HTTPSPort: c.Int("sts-port")}
	return nil
}

// where names what a partner's line is about: the host:port of its worst
// target and how many of its addresses fail, or its domain when no address was found.
func where(r *audit.Result) string {
	s := fmt.Sprintf("%s:%d", r.Host, r.Port)
	if r.Host == "" {
		s = r.Domain
	}
	if t := r.TargetsText(); t != "" {
		s += " (" + t + ")"
	}
	return s
}
