package dns

import (
	"cmp"
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
)

// MX is one mail exchanger of a domain.
type MX struct {
	Pref uint16
	Host string // lower case, without the trailing dot; "" for the null MX's "."
}

// MX returns the answer's MX records, most preferred first (then by name).
func (a *Answer) MX() []MX {
	var out []MX
	for _, rr := range a.Records {
		if mx, ok := rr.(*mdns.MX); ok {
			out = append(out, MX{Pref: mx.Preference, Host: strings.TrimSuffix(strings.ToLower(mx.Mx), ".")})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pref != out[j].Pref {
			return out[i].Pref < out[j].Pref
		}
		return out[i].Host < out[j].Host
	})
	return out
}

// Addrs returns the answer's A and AAAA addresses, without duplicates, in answer order.
func (a *Answer) Addrs() []netip.Addr {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, rr := range a.Records {
		var ip netip.Addr
		switch r := rr.(type) {
		case *mdns.A:
			ip, _ = netip.AddrFromSlice(r.A.To4())
		case *mdns.AAAA:
			ip, _ = netip.AddrFromSlice(r.AAAA.To16())
		default:
			continue
		}
		if ip.IsValid() && !seen[ip] {
			seen[ip] = true
			out = append(out, ip)
		}
	}
	return out
}

// TXT returns the answer's TXT records, the strings of each record joined (RFC 7208 3.3, RFC 8461 3.1).
func (a *Answer) TXT() []string {
	var out []string
	for _, rr := range a.Records {
		if t, ok := rr.(*mdns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}

// TLSA is one TLSA record (RFC 6698): usage, selector, matching type and the association data in hex.
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          string // hex, lower case
}

// TLSA returns the answer's TLSA records.
func (a *Answer) TLSA() []TLSA {
	var out []TLSA
	for _, rr := range a.Records {
		if t, ok := rr.(*mdns.TLSA); ok {
			out = append(out, TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: strings.ToLower(t.Certificate)})
		}
	}
	return out
}

// TLSAName returns the owner name of the TLSA records of a service (RFC 6698 3): _PORT._tcp.HOST.
func TLSAName(host string, port int) string {
	return "_" + strconv.Itoa(port) + "._tcp." + strings.TrimSuffix(host, ".")
}

// LookupHost returns the addresses of host (A, then AAAA) as strings, so a
// Resolver stands in for a *net.Resolver; it fails only when neither
// lookup gives an address, with the A lookup's error first.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	types := []uint16{TypeA, TypeAAAA}
	answers := make([]*Answer, len(types))
	errs := make([]error, len(types))
	var wg sync.WaitGroup
	for i, t := range types {
		wg.Go(func() { answers[i], errs[i] = r.Lookup(ctx, host, t) })
	}
	wg.Wait()
	var out []string
	for _, a := range answers {
		if a != nil {
			for _, ip := range a.Addrs() {
				out = append(out, ip.String())
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if err := cmp.Or(errs...); err != nil {
		return nil, err
	}
	return nil, &Error{Name: host, Type: "A/AAAA", Kind: NoAddress, Rcode: mdns.RcodeSuccess}
}
