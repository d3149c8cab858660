package pipeline

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
)

// row is one inventory row on its way through the run: the targets its
// discovery found, and each target's result once its probe is done.
type row struct {
	partner int            // index of the partner (by name) the row belongs to
	idx     int            // index of the row in the inventory
	jobs    []*job         // cands[k]'s probe, once handed to it
	p       *audit.Partner // the inventory's row, never changed
	cands   []candidate
	targets []audit.TargetResult // cands[k]'s result; an empty Verdict until probed
	// verdict and why: the row found nothing to probe (DNSError, DnssecBogus, NullMX), or "".
	verdict   audit.Verdict
	why       string
	findings  []audit.Finding
	notTested []string // addresses of a family this machine cannot reach
	untested  map[string]int
	done      bool // discovery finished (false when the run was interrupted first)
}

// candidate is one target a row's discovery found.
type candidate struct {
	t        audit.Target // MX host (SNI), port, address (IP), TLS mode
	pref     int
	found    string // audit.Found*
	dnssec   bool
	provider string // the --per-provider key
}

// discover finds the targets of row w: the row's address, the addresses of
// its host, or the MX hosts of its domain and their addresses (RFC 5321
// 5.1); a row with host and domain is checked against the domain's MX
// (drift), whose hosts are audited too with FollowMX.
func (r *runner) discover(ctx context.Context, w *row) {
	p := *w.p
	if p.Host == "" {
		r.pub.start(ctx, p.Domain) // MTA-STS and TLS-RPT while the MX is looked up and probed
	}
	switch {
	case p.Host != "" && p.Address != "":
		t := p.Target()
		ip := p.Address
		if h, port, err := net.SplitHostPort(ip); err == nil {
			ip = h
			if port == strconv.Itoa(p.Port) {
				t.Address = ip // the service port itself: the address alone
			}
		}
		w.add(candidate{t: t, found: audit.FoundHost, provider: discovery.Provider(p.Host)}, ip, r.opts)
	case p.Host != "" && r.opts.DNS != nil:
		w.take(discovery.Named(ctx, r.opts.DNS, p.Domain, p.Host, p.Port, r.discoveryOptions()), audit.FoundHost, p, r.opts)
	case p.Host != "":
		r.lookupHost(ctx, w)
	case r.opts.DNS == nil:
		w.verdict, w.why = audit.DNSError, "no DNS resolver to look up the MX of "+p.Domain
	default:
		w.take(discovery.Domain(ctx, r.opts.DNS, p.Domain, p.Port, r.discoveryOptions()), audit.FoundMX, p, r.opts)
	}
	if p.Host != "" && p.Domain != "" && r.opts.DNS != nil && ctx.Err() == nil {
		r.drift(ctx, w)
	}
	if len(w.cands) > 0 && w.verdict != "" {
		w.verdict, w.why = "", "" // a followed MX gave targets after all
	}
	w.targets = make([]audit.TargetResult, len(w.cands))
	for _, c := range w.cands {
		r.pub.prefetch(ctx, c)
	}
}

func (r *runner) discoveryOptions() discovery.Options {
	return discovery.Options{MX: r.opts.MX, IP: r.opts.IP, Reach: r.opts.Reach, DNSSECTrusted: r.opts.Published.DNSSECTrusted}
}

// take adds the targets of a discovery result, its findings, and its verdict when it found nothing to probe.
func (w *row) take(d *discovery.Result, found string, p audit.Partner, opts Options) {
	for _, t := range d.Targets {
		f := found
		if t.Implicit {
			f = audit.FoundImplicit
		}
		c := candidate{t: audit.Target{Host: t.MX, Port: t.Port, Address: t.Addr.String(), TLS: p.TLS},
			pref: int(t.Pref), found: f, dnssec: t.AD, provider: discovery.Provider(t.MX)}
		if found == audit.FoundHost {
			c.pref = 0
		}
		w.add(c, t.Addr.String(), opts)
	}
	for _, t := range d.NotTested {
		w.notTested = append(w.notTested, audit.TargetKey(t.MX, t.Port, t.Addr.String()))
		if w.untested == nil {
			w.untested = map[string]int{}
		}
		w.untested[family(t.Addr)]++
	}
	v, why := d.Verdict()
	for _, f := range d.Findings {
		if v != "" && (f.Kind == discovery.Unresolved || f.Kind == discovery.NoAddress) {
			continue // nothing to probe: the verdict's details say it
		}
		if af, ok := f.Audit(); ok && !slices.Contains(w.findings, af) {
			w.findings = append(w.findings, af)
		}
	}
	if v != "" && len(w.cands) == 0 {
		w.verdict, w.why = v, why
	}
}

// add adds candidate c (reached at ip) unless the row has it already.
func (w *row) add(c candidate, ip string, opts Options) {
	if a, err := netip.ParseAddr(ip); err == nil && !opts.wants(a) {
		return
	}
	for _, o := range w.cands {
		if o.t == c.t {
			return
		}
	}
	w.cands = append(w.cands, c)
}

func family(a netip.Addr) string {
	if a.Unmap().Is4() {
		return audit.IPv4
	}
	return audit.IPv6
}

// wants reports whether --ip asks for a's family; an address the inventory gives is always wanted.
func (o Options) wants(a netip.Addr) bool {
	switch o.IP {
	case discovery.V4:
		return a.Unmap().Is4()
	case discovery.V6:
		return !a.Unmap().Is4()
	}
	return true
}

// lookupHost resolves a row's host with Options.Resolver (no DNS client
// given): every address, IPv4 first.
func (r *runner) lookupHost(ctx context.Context, w *row) {
	p := *w.p
	timeout := r.opts.Probe.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := r.opts.Resolver.LookupHost(lctx, p.Host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: p.Host, IsNotFound: true}
	}
	if err != nil {
		w.verdict, w.why = audit.DNSError, "resolve: "+err.Error()
		return
	}
	var ips []netip.Addr
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	slices.SortStableFunc(ips, func(a, b netip.Addr) int { return boolInt(!a.Is4()) - boolInt(!b.Is4()) })
	for _, ip := range ips {
		t := p.Target()
		t.Address = ip.String()
		w.add(candidate{t: t, found: audit.FoundHost, provider: discovery.Provider(p.Host)}, ip.String(), r.opts)
	}
	if len(w.cands) == 0 {
		w.verdict, w.why = audit.DNSError, fmt.Sprintf("resolve: %s has no address of the families asked (--ip %s)", p.Host, r.opts.IP)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// drift looks up the MX of the domain of a row that names its host: a
// host that is not among them is a finding, and with FollowMX the MX
// hosts are audited too.
func (r *runner) drift(ctx context.Context, w *row) {
	p := *w.p
	d := discovery.Domain(ctx, r.opts.DNS, p.Domain, p.Port, r.discoveryOptions())
	f, ok := discovery.DriftFinding(d, p.Host, r.opts.FollowMX && len(d.Targets) > 0)
	if !ok {
		return
	}
	if af, ok := f.Audit(); ok {
		w.findings = append(w.findings, af)
	}
	if r.opts.FollowMX && len(d.Targets) > 0 {
		w.take(d, audit.FoundFollowMX, p, r.opts)
	}
}
