package pipeline

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/dane"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/mtasts"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/tlsrpt"
)

// Published configures the stage that checks what a partner publishes for
// TLS (issue 13): DNSSEC of the answers used, DANE per target, MTA-STS and
// TLS-RPT per domain. It runs when Options.DNS is set.
type Published struct {
	Off bool // skip the stage (no TLSA, TXT or policy lookups)
	// DNSSECTrusted trusts the AD bit of Options.DNS's answers, as Postfix
	// does with smtp_dns_support_level = dnssec (--dnssec-resolver-trusted);
	// without it no TLSA record is looked up and DANE is "insecure".
	DNSSECTrusted bool
	// Roots are the public (WebPKI) roots MTA-STS validates the policy host
	// and the MX certificates against; nil means the system roots. Never
	// the private roots: no MTA-STS sender has them.
	Roots *x509.CertPool
	// FetchTimeout bounds one policy fetch; default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// HTTPSPort is where policy hosts are reached; default 443 (tests use another).
	HTTPSPort int
}

// DefaultFetchTimeout bounds an MTA-STS policy fetch when Published.FetchTimeout is zero.
const DefaultFetchTimeout = 10 * time.Second

// DNSSECTrustedByDefault reports whether a resolver (host:port) is trusted
// for DNSSEC without --dnssec-resolver-trusted: on this machine (127.0.0.0/8 or ::1).
func DNSSECTrustedByDefault(servers []string) bool {
	if len(servers) == 0 {
		return false
	}
	for _, s := range servers {
		h, _, err := net.SplitHostPort(s)
		if err != nil {
			h = s
		}
		ip := net.ParseIP(h)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// published is the stage's state for one run: every domain's MTA-STS and
// TLS-RPT, looked up and fetched once, concurrently with the probes.
type published struct {
	opts    Published
	dns     *dns.Resolver
	now     time.Time
	fetcher *mtasts.Fetcher
	mu      sync.Mutex
	domains map[string]*domainPolicies
}

// domainPolicies is what one mail domain publishes; done closes when known.
type domainPolicies struct {
	done chan struct{}
	sts  mtasts.Input // Domain, TXT, TXTErr, Fetched, FetchErr
	rpt  tlsrpt.Result
}

func newPublished(opts Options) *published {
	if opts.DNS == nil || opts.Published.Off {
		return nil
	}
	p := &published{opts: opts.Published, dns: opts.DNS, now: opts.Now, domains: map[string]*domainPolicies{}}
	timeout := p.opts.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	p.fetcher = &mtasts.Fetcher{Roots: p.opts.Roots, Dial: p.dial, Timeout: timeout, Now: opts.Now}
	return p
}

// dial connects to a policy host at the addresses the run's resolver gives.
func (p *published) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if p.opts.HTTPSPort != 0 {
		port = strconv.Itoa(p.opts.HTTPSPort)
	}
	ips, err := p.dns.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var last error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip, port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// start looks up domain's MTA-STS and TLS-RPT records and fetches its
// policy, once per run, in the background.
func (p *published) start(ctx context.Context, domain string) *domainPolicies {
	domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(domain), "."))
	if p == nil || domain == "" {
		return nil
	}
	p.mu.Lock()
	e, ok := p.domains[domain]
	if !ok {
		e = &domainPolicies{done: make(chan struct{}), sts: mtasts.Input{Domain: domain}}
		p.domains[domain] = e
	}
	p.mu.Unlock()
	if !ok {
		go p.lookupDomain(ctx, domain, e)
	}
	return e
}

func (p *published) lookupDomain(ctx context.Context, domain string, e *domainPolicies) {
	defer close(e.done)
	var wg sync.WaitGroup
	wg.Go(func() {
		e.sts.TXT, e.sts.TXTErr = p.txt(ctx, mtasts.RecordName(domain))
		if e.sts.TXTErr != nil {
			return
		}
		if _, err := mtasts.ParseRecords(e.sts.TXT); err == nil {
			e.sts.Fetched, e.sts.FetchErr = p.fetcher.Fetch(ctx, domain)
		}
	})
	wg.Go(func() {
		txt, err := p.txt(ctx, tlsrpt.RecordName(domain))
		e.rpt = tlsrpt.Evaluate(domain, txt, err)
	})
	wg.Wait()
}

// txt returns the TXT records at name; a name without any is no error.
func (p *published) txt(ctx context.Context, name string) ([]string, error) {
	ans, err := p.dns.Lookup(ctx, name, dns.TypeTXT)
	if errors.Is(err, dns.ErrNXDOMAIN) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ans.TXT(), nil
}

// prefetch looks up the TLSA records of a secure target's MX host in the
// background, so that they are in the cache when its probe is done.
func (p *published) prefetch(ctx context.Context, c candidate) {
	if p == nil || !p.opts.DNSSECTrusted || !c.dnssec {
		return
	}
	go p.dns.Lookup(ctx, dane.Name(c.t.Host, c.t.Port), dns.TypeTLSA) //nolint:errcheck // cached for apply
}

// apply records in res (one target of a row of domain) the DNSSEC, DANE,
// MTA-STS and TLS-RPT facts, verdicts and findings; finish follows.
func (p *published) apply(ctx context.Context, res *audit.Result, domain string, c candidate, obs *probe.Observation) {
	if p == nil {
		return
	}
	facts := &audit.Policies{}
	tls := obs.TLSVersion != 0 && len(obs.Chain) > 0
	tlsErr := ""
	if obs.Err != nil {
		tlsErr = obs.Err.Error()
	}
	chains := [][]*x509.Certificate{}
	if len(obs.Chain) > 0 {
		chains = append(chains, obs.Chain)
	}
	for _, kc := range obs.Others {
		chains = append(chains, kc.Chain)
	}
	dr := p.dane(ctx, facts, domain, c, dane.Input{Host: c.t.Host, Port: c.t.Port, Domain: domain, TLS: tls, TLSError: tlsErr, Chains: chains, Now: p.now})
	dr.Apply(res, facts)
	// MTA-STS and TLS-RPT are the domain's word on its MX hosts: a host the
	// inventory names instead (a smart host, a connector's) is not under them.
	if c.found == audit.FoundHost {
		res.Policies = facts
		return
	}
	if e := p.start(ctx, domain); e != nil {
		select {
		case <-e.done:
			p.mtasts(res, facts, e, c, mtasts.MX{Host: c.t.Host, TLS: tls, TLSError: tlsErr, Chain: obs.Chain,
				Unreached: len(obs.SMTP.Greeting) == 0 && !tls}, dr.Status)
			e.rpt.Apply(res, facts)
		case <-ctx.Done():
		}
	}
	res.Policies = facts
}

// dane looks up the TLSA records of a secure target and evaluates them.
func (p *published) dane(ctx context.Context, facts *audit.Policies, domain string, c candidate, in dane.Input) dane.Result {
	switch {
	case !p.opts.DNSSECTrusted:
		facts.DNSSEC = audit.DNSSECUntrusted
		return dane.Result{Status: dane.Insecure, Detail: "the resolver is not trusted for DNSSEC (--dnssec-resolver-trusted), so no TLSA record was looked up"}
	case !c.dnssec:
		facts.DNSSEC = audit.DNSSECInsecure
		return dane.Evaluate(in) // insecure: the host's answers had no AD bit
	}
	facts.DNSSEC = audit.DNSSECSecure
	in.Lookup = p.tlsa(ctx, c)
	if in.Lookup.Err != nil {
		facts.DNSSEC = audit.DNSSECBogus
	}
	for _, r := range in.Lookup.Records {
		facts.TLSA = append(facts.TLSA, r.String())
	}
	return dane.Evaluate(in)
}

// tlsa is the TLSA lookup of a target whose MX and address answers are secure.
func (p *published) tlsa(ctx context.Context, c candidate) dane.Lookup {
	l := dane.Lookup{HostSecure: true}
	ans, err := p.dns.Lookup(ctx, dane.Name(c.t.Host, c.t.Port), dns.TypeTLSA)
	var de *dns.Error
	switch {
	case errors.As(err, &de) && de.Kind == dns.NXDOMAIN:
		l.Rcode, l.Secure = mdns.RcodeNameError, de.AD
		return l
	case err != nil:
		l.Err = err
		if errors.As(err, &de) && de.Rcode > 0 {
			l.Rcode = de.Rcode
		}
		return l
	}
	l.Secure = ans.AD
	for _, rr := range ans.Records {
		if t, ok := rr.(*mdns.TLSA); ok {
			if r, err := dane.FromRR(t); err == nil {
				l.Records = append(l.Records, r)
			}
		}
	}
	return l
}

// daneApplies says whether DANE governs a target (RFC 8461 section 2: a
// sender that finds usable TLSA records applies DANE, not MTA-STS, to it).
func daneApplies(s dane.Status) bool {
	switch s {
	case dane.Valid, dane.Mismatch, dane.Bogus, dane.NoTLS, dane.Unusable:
		return true
	}
	return false
}

// mtasts evaluates domain e's MTA-STS for one target: the domain's
// failures, and the MX host's unless DANE governs it (MTA-STS never
// overrides a failing DANE check, nor masks one).
func (p *published) mtasts(res *audit.Result, facts *audit.Policies, e *domainPolicies, c candidate, mx mtasts.MX, ds dane.Status) {
	in := e.sts
	in.Enforced, in.Roots, in.Now = res.Enforced, p.opts.Roots, p.now
	in.MX = []mtasts.MX{mx}
	sr := mtasts.Evaluate(in)
	if daneApplies(ds) {
		kept := sr.Outcomes[:0]
		for _, o := range sr.Outcomes {
			if o.Host == "" {
				kept = append(kept, o)
			}
		}
		if len(kept) < len(sr.Outcomes) {
			res.Findings = append(res.Findings, audit.Finding{Check: mtasts.Check, Severity: audit.Info,
				Message: fmt.Sprintf("MX %s publishes DANE (TLSA %s): senders apply DANE to it, not the MTA-STS policy", c.t.Host, ds),
				Remedy:  ""})
		}
		sr.Outcomes = kept
	}
	sr.Apply(res, facts)
	if sr.Status == mtasts.InTesting {
		return
	}
	for _, o := range sr.Outcomes {
		if o.ResultType == "" {
			continue
		}
		if res.ResultTypes == nil {
			res.ResultTypes = map[audit.Verdict]audit.ResultType{}
		}
		if res.ResultTypes[o.Verdict] == "" {
			res.ResultTypes[o.Verdict] = o.ResultType
		}
	}
}
