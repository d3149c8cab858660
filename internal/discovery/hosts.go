package discovery

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"

	"golang.org/x/net/publicsuffix"

	"github.com/mxaudit/mxaudit/internal/dns"
)

// literalError is the "error" of an MX host that is an IP address.
type literalError struct{ host string }

func (e *literalError) Error() string { return e.host + " is an IP address, not a host name" }

// ipLiteral reports whether name is an IP address, bare or as an RFC 5321 address literal ([192.0.2.1], [IPv6:2001:db8::1]).
func ipLiteral(name string) bool {
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		name = strings.TrimPrefix(strings.ToLower(name[1:len(name)-1]), "ipv6:")
	}
	_, err := netip.ParseAddr(name)
	return err == nil
}

// addresses looks up the A and/or AAAA records of one MX host concurrently.
// An IP literal is an error from an MX record and its own address from the inventory.
func addresses(ctx context.Context, r *dns.Resolver, m dns.MX, opts Options, fromMX bool) Host {
	h := Host{Name: m.Host, Pref: m.Pref, Canonical: m.Host}
	if ipLiteral(m.Host) {
		ip, err := netip.ParseAddr(strings.TrimPrefix(strings.Trim(m.Host, "[]"), "ipv6:"))
		if !fromMX && err == nil && opts.wants(ip.Unmap()) {
			h.Addrs = []netip.Addr{ip.Unmap()}
		} else if fromMX {
			h.Err = &literalError{m.Host}
		}
		return h
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	switch opts.IP {
	case V4:
		types = types[:1]
	case V6:
		types = types[1:]
	}
	answers := make([]*dns.Answer, len(types))
	errs := make([]error, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = r.Lookup(ctx, m.Host, t)
		}()
	}
	wg.Wait()
	h.AD = true
	for i, a := range answers {
		if errs[i] != nil {
			h.AD = false
			if h.Err == nil {
				h.Err = errs[i]
			}
			continue
		}
		h.AD = h.AD && a.AD
		if len(a.CNAMEs) > 0 && h.Aliases == nil {
			h.Aliases, h.Canonical = a.CNAMEs, a.Canonical
		}
		n := 0
		for _, ip := range a.Addrs() {
			ip = ip.Unmap()
			if !opts.wants(ip) || (types[i] == dns.TypeA) != ip.Is4() {
				continue
			}
			if n == MaxAddrs {
				h.Capped = true
				break
			}
			h.Addrs = append(h.Addrs, ip)
			n++
		}
	}
	return h
}

// Reach says which address families this machine can reach at all.
type Reach struct{ V4, V6 bool }

// Documentation addresses (RFC 5737, RFC 3849) used to ask the routing table; nothing is sent to them.
var (
	probe4 = netip.MustParseAddr("198.51.100.1")
	probe6 = netip.MustParseAddr("2001:db8::1")
)

// Reachable asks the routing table whether IPv4 and IPv6 addresses outside this machine have a route.
func Reachable() Reach { return Reach{V4: RoutableTo(probe4), V6: RoutableTo(probe6)} }

// RoutableTo reports whether the routing table has a route to a; "connecting" a UDP socket sends nothing.
func RoutableTo(a netip.Addr) bool {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, 9)))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Untested names the families this machine cannot test, for the run's one note ("IPv6 not tested from here: no route").
func (r Reach) Untested() []string {
	var out []string
	if !r.V4 {
		out = append(out, "IPv4")
	}
	if !r.V6 {
		out = append(out, "IPv6")
	}
	return out
}

// Provider returns the registered domain of an MX host (mx1.mail.protection.outlook.com -> outlook.com),
// the key for a per-provider limit; an IP address or a public suffix is its own key.
func Provider(host string) string {
	h := canonical(host)
	if ipLiteral(h) {
		return h
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(h); err == nil {
		return d
	}
	return h
}

// Query is one discovery to make: a domain's MX when Host is empty, else the named host.
type Query struct {
	Domain, Host string
	Port         int // 0: DefaultPort
}

// Many runs the queries with at most concurrency at a time and returns their results in order.
func Many(ctx context.Context, r *dns.Resolver, qs []Query, opts Options, concurrency int) []*Result {
	out := make([]*Result, len(qs))
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	for i, q := range qs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if q.Host != "" {
				out[i] = Named(ctx, r, q.Domain, q.Host, q.Port, opts)
			} else {
				out[i] = Domain(ctx, r, q.Domain, q.Port, opts)
			}
		}()
	}
	wg.Wait()
	return out
}
