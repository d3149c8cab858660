// Package discovery finds where a mail domain's mail goes (RFC 5321 5.1):
// its MX hosts in preference order, the null MX (RFC 7505) and the implicit
// MX, each host's addresses, and the targets (MX host x address x port) to
// probe.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/dns"
)

// NullMX is the verdict of a domain whose only MX is the null MX ("0 .",
// RFC 7505): it takes no mail (audit.NullMX, ranked after audit.DNSError).
const NullMX = audit.NullMX

// Limits (their only home).
const (
	DefaultPort = 25
	MaxHosts    = 16 // MX hosts looked at per domain; more are a finding
	MaxAddrs    = 16 // addresses per MX host and family; more are a finding
)

// MXMode chooses which MX hosts of a domain are probed.
type MXMode string

// The MX modes (flag --mx).
const (
	AllMX     MXMode = "all"     // every MX host
	PrimaryMX MXMode = "primary" // the most preferred MX hosts only (all those of the lowest preference)
)

// Family chooses which address families are probed.
type Family string

// The families (flag --ip).
const (
	Both Family = "both"
	V4   Family = "4"
	V6   Family = "6"
)

// ParseMXMode parses the value of --mx.
func ParseMXMode(s string) (MXMode, error) {
	switch m := MXMode(strings.ToLower(strings.TrimSpace(s))); m {
	case AllMX, PrimaryMX:
		return m, nil
	case "":
		return AllMX, nil
	}
	return "", fmt.Errorf("--mx %q: want all or primary", s)
}

// ParseFamily parses the value of --ip.
func ParseFamily(s string) (Family, error) {
	switch f := Family(strings.ToLower(strings.TrimSpace(s))); f {
	case Both, V4, V6:
		return f, nil
	case "", "4,6", "46":
		return Both, nil
	case "v4", "ipv4":
		return V4, nil
	case "v6", "ipv6":
		return V6, nil
	}
	return "", fmt.Errorf("--ip %q: want 4, 6 or both", s)
}

// Options choose what Domain and Named look up.
type Options struct {
	MX MXMode // default AllMX
	IP Family // default Both
	// Reach says which families this machine can reach (see Reachable);
	// nil means both. Addresses of an unreachable family go to Result.NotTested.
	Reach *Reach
	// DNSSECTrusted trusts the resolver's DNSSEC validation
	// (--dnssec-resolver-trusted): a lookup it says failed validation makes
	// the verdict audit.DnssecBogus instead of audit.DNSError.
	DNSSECTrusted bool
}

func (o Options) wants(a netip.Addr) bool {
	switch o.IP {
	case V4:
		return a.Is4()
	case V6:
		return a.Is6()
	}
	return true
}

func (o Options) reaches(a netip.Addr) bool {
	if o.Reach == nil || a.IsLoopback() {
		return true // this machine's own addresses need no route
	}
	if a.Is4() {
		return o.Reach.V4
	}
	return o.Reach.V6
}

// Target is one address to probe: an MX host of a domain, one of its addresses, and the port.
type Target struct {
	Domain   string
	MX       string // the MX host: the name the certificate must carry and the SNI
	Pref     uint16
	Implicit bool // the domain has no MX: its own address (RFC 5321 5.1)
	Addr     netip.Addr
	Port     int
	// AD: the MX answer and this address's answer both came with the AD
	// bit (DNSSEC-authentic, as far as the resolver can be trusted).
	AD bool
}

// Address returns the target as IP:port.
func (t Target) Address() string { return netip.AddrPortFrom(t.Addr, uint16(t.Port)).String() }

// FindingKind names a problem with a domain's MX set that is not a DNS failure of the domain.
type FindingKind string

// The findings about MX hosts.
const (
	Unresolved  FindingKind = "mx-unresolved"   // the MX host does not resolve (NXDOMAIN, SERVFAIL, timeout, ...)
	NoAddress   FindingKind = "mx-no-address"   // the MX host exists but has no address (of the families asked)
	Alias       FindingKind = "mx-cname"        // the MX host is an alias (RFC 2181 10.3, RFC 5321 5.1 forbid it)
	IPLiteral   FindingKind = "mx-ip-literal"   // the MX host is an IP address; MTAs ignore it
	NullMixed   FindingKind = "null-mx-mixed"   // a null MX next to other MX records (RFC 7505 3)
	TooMany     FindingKind = "mx-capped"       // more MX hosts or addresses than mxaudit looks at
	Unreachable FindingKind = "family-untested" // addresses of a family this machine cannot reach
)

// Finding is a problem with one MX host (or the MX set: MX is then "").
type Finding struct {
	MX      string
	Kind    FindingKind
	Message string
	Err     error // the lookup's *dns.Error, when a lookup failed
}

// Host is one MX host with its addresses.
type Host struct {
	Name    string
	Pref    uint16
	Addrs   []netip.Addr // of the families asked for, A before AAAA
	Aliases []string     // when the name is an alias (CNAME): the aliases followed, the MX host first
	// Canonical is the name the addresses belong to: Name, or the alias's target.
	Canonical string
	AD        bool  // the address answers came with the AD bit
	Capped    bool  // the host had more than MaxAddrs addresses of a family
	Err       error // the (first) address lookup that failed (a *dns.Error), or the name is an IP literal
}

// Result is what discovery found for one domain (or one host).
type Result struct {
	Domain    string
	MX        []dns.MX // every MX record, preference order (nil without MX)
	MXAD      bool     // the MX answer came with the AD bit
	NullMX    bool     // the only MX is the null MX: the domain takes no mail
	Implicit  bool     // no MX records: the domain's own addresses are used
	Hosts     []Host   // the MX hosts chosen by Options.MX, preference order
	Targets   []Target // every chosen host x address of a wanted, reachable family
	NotTested []Target // addresses of a family this machine cannot reach
	Findings  []Finding
	Err       error // the MX (or host) lookup failed: a *dns.Error
	trusted   bool  // Options.DNSSECTrusted
}

// Verdict returns the verdict the domain gets before any probe, and why:
// NullMX, audit.DNSError when nothing can be probed because of DNS
// (audit.DnssecBogus when a lookup failed DNSSEC validation at a trusted
// resolver), or "" when there are targets (or only unreachable ones, which
// are not the partner's fault).
func (r *Result) Verdict() (audit.Verdict, string) {
	switch {
	case r.NullMX:
		return NullMX, r.Domain + " publishes a null MX (RFC 7505): it takes no mail"
	case r.Err != nil:
		return r.failed(), r.Err.Error()
	case len(r.Targets) > 0 || len(r.NotTested) > 0:
		return "", ""
	}
	var why []string
	for _, f := range r.Findings {
		why = append(why, f.Message)
	}
	if len(why) == 0 {
		why = append(why, "no address to probe")
	}
	return r.failed(), strings.Join(why, "; ")
}

// failed is the verdict of a domain left with nothing to probe by DNS:
// audit.DnssecBogus when the resolver is trusted for DNSSEC and said the MX
// or an address lookup failed validation (RFC 8914), else audit.DNSError.
func (r *Result) failed() audit.Verdict {
	if !r.trusted {
		return audit.DNSError
	}
	if _, bogus := dns.Bogus(r.Err); bogus {
		return audit.DnssecBogus
	}
	for _, h := range r.Hosts {
		if _, bogus := dns.Bogus(h.Err); bogus {
			return audit.DnssecBogus
		}
	}
	return audit.DNSError
}

// Drift says whether host (a row's host) is one of the domain's MX hosts,
// and names the real ones (the domain itself for an implicit MX).
func (r *Result) Drift(host string) (listed bool, real []string) {
	if r.Implicit {
		return Drift(host, []dns.MX{{Host: r.Domain}})
	}
	return Drift(host, r.MX)
}

// Drift says whether host is among the MX hosts mx and returns their names in preference order.
func Drift(host string, mx []dns.MX) (listed bool, real []string) {
	h := canonical(host)
	for _, m := range mx {
		if m.Host == "" {
			continue
		}
		if !slices.Contains(real, m.Host) {
			real = append(real, m.Host)
		}
		if m.Host == h {
			listed = true
		}
	}
	return listed, real
}

func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// Domain discovers the targets of a mail domain on port (0: DefaultPort).
func Domain(ctx context.Context, r *dns.Resolver, domain string, port int, opts Options) *Result {
	if port == 0 {
		port = DefaultPort
	}
	res := &Result{Domain: canonical(domain), trusted: opts.DNSSECTrusted}
	ans, err := r.Lookup(ctx, res.Domain, dns.TypeMX)
	if err != nil {
		res.Err = err
		return res
	}
	res.MXAD = ans.AD
	res.MX = ans.MX()
	var hosts []dns.MX
	null := false
	for _, m := range res.MX {
		if m.Host == "" {
			null = true
			continue
		}
		hosts = append(hosts, m)
	}
	switch {
	case null && len(hosts) == 0:
		res.NullMX = true
		return res
	case null:
		res.Findings = append(res.Findings, Finding{Kind: NullMixed,
			Message: fmt.Sprintf("%s publishes a null MX next to %d other MX records (RFC 7505 3 forbids it); the null MX is ignored", res.Domain, len(hosts))})
	case len(hosts) == 0:
		res.Implicit = true
		hosts = []dns.MX{{Host: res.Domain}}
	}
	if opts.MX == PrimaryMX {
		best := hosts[0].Pref
		hosts = slices.DeleteFunc(hosts, func(m dns.MX) bool { return m.Pref != best })
	}
	hosts = dedupe(hosts)
	if len(hosts) > MaxHosts {
		res.Findings = append(res.Findings, Finding{Kind: TooMany,
			Message: fmt.Sprintf("%s has %d MX hosts; only the %d most preferred are audited", res.Domain, len(hosts), MaxHosts)})
		hosts = hosts[:MaxHosts]
	}
	// The implicit MX is the domain itself: it may be an alias (RFC 5321 5.1).
	res.resolve(ctx, r, hosts, port, opts, res.MXAD, !res.Implicit)
	if res.Implicit && len(res.Targets) == 0 && len(res.NotTested) == 0 {
		// No MX and no address: RFC 5321 5.1 says the domain takes no mail.
		res.Findings = nil
		h := res.Hosts[0]
		if h.Err != nil {
			res.Err = h.Err
		} else {
			res.Findings = append(res.Findings, Finding{Kind: NoAddress,
				Message: fmt.Sprintf("%s has no MX record and no address%s", res.Domain, familyNote(opts))})
		}
	}
	return res
}

// Named discovers the targets of a named mail host (an inventory row with a
// host): its addresses on port, without any MX lookup; an IP address is its own target.
func Named(ctx context.Context, r *dns.Resolver, domain, host string, port int, opts Options) *Result {
	if port == 0 {
		port = DefaultPort
	}
	res := &Result{Domain: canonical(domain), trusted: opts.DNSSECTrusted}
	res.resolve(ctx, r, []dns.MX{{Host: canonical(host)}}, port, opts, true, false)
	if h := res.Hosts[0]; h.Err != nil && len(res.Targets) == 0 && len(res.NotTested) == 0 {
		res.Err = h.Err
	}
	return res
}

func dedupe(mx []dns.MX) []dns.MX {
	seen := map[string]bool{}
	return slices.DeleteFunc(mx, func(m dns.MX) bool {
		if seen[m.Host] {
			return true
		}
		seen[m.Host] = true
		return false
	})
}

func familyNote(opts Options) string {
	switch opts.IP {
	case V4:
		return " (IPv4)"
	case V6:
		return " (IPv6)"
	}
	return ""
}

// resolve looks up every host's addresses concurrently and fills Hosts, Targets, NotTested and Findings.
// mxAD is whether the answer that named the hosts was authentic; fromMX
// whether the names come from MX records (or from the inventory).
func (res *Result) resolve(ctx context.Context, r *dns.Resolver, mx []dns.MX, port int, opts Options, mxAD, fromMX bool) {
	res.Hosts = make([]Host, len(mx))
	var wg sync.WaitGroup
	for i, m := range mx {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Hosts[i] = addresses(ctx, r, m, opts, fromMX)
		}()
	}
	wg.Wait()
	for _, h := range res.Hosts {
		res.Findings = append(res.Findings, hostFindings(h, opts, fromMX)...)
		for _, a := range h.Addrs {
			t := Target{Domain: res.Domain, MX: h.Name, Pref: h.Pref, Implicit: res.Implicit, Addr: a, Port: port,
				AD: h.AD && mxAD}
			if opts.reaches(a) {
				res.Targets = append(res.Targets, t)
			} else {
				res.NotTested = append(res.NotTested, t)
			}
		}
	}
}

func hostFindings(h Host, opts Options, fromMX bool) []Finding {
	var out []Finding
	noun := "MX host"
	if !fromMX {
		noun = "host"
	}
	var lit *literalError
	switch {
	case errors.As(h.Err, &lit):
		out = append(out, Finding{MX: h.Name, Kind: IPLiteral, Err: h.Err,
			Message: fmt.Sprintf("%s %s is an IP address, not a host name; mail servers (Postfix) ignore it, so mail never goes there", noun, h.Name)})
	case h.Err != nil && len(h.Addrs) == 0:
		out = append(out, Finding{MX: h.Name, Kind: Unresolved, Err: h.Err,
			Message: fmt.Sprintf("%s %s does not resolve: %v", noun, h.Name, h.Err)})
	case h.Err != nil:
		out = append(out, Finding{MX: h.Name, Kind: Unresolved, Err: h.Err,
			Message: fmt.Sprintf("%s %s: part of its address lookup failed: %v", noun, h.Name, h.Err)})
	case len(h.Addrs) == 0:
		out = append(out, Finding{MX: h.Name, Kind: NoAddress,
			Message: fmt.Sprintf("%s %s has no address%s", noun, h.Name, familyNote(opts))})
	}
	if h.Capped {
		out = append(out, Finding{MX: h.Name, Kind: TooMany,
			Message: fmt.Sprintf("%s %s has more than %d addresses of a family; only the first %d are audited", noun, h.Name, MaxAddrs, MaxAddrs)})
	}
	if len(h.Aliases) > 0 && fromMX { // an alias is fine for an inventory's host
		out = append(out, Finding{MX: h.Name, Kind: Alias,
			Message: fmt.Sprintf("MX host %s is an alias (CNAME) of %s; an MX must name a host, not an alias (RFC 2181 10.3, RFC 5321 5.1)",
				h.Name, h.Canonical)})
	}
	return out
}
