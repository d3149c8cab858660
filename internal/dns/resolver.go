// Package dns asks resolvers for the records mxaudit needs (MX, A, AAAA,
// TLSA, TXT): over UDP with TCP on truncation, with a deadline and retries,
// each answer cached for the run and asked for once however many partners
// share it, keeping the AD bit of every answer.
package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// Record types, re-exported so callers need not import miekg/dns.
const (
	TypeA    = mdns.TypeA
	TypeAAAA = mdns.TypeAAAA
	TypeMX   = mdns.TypeMX
	TypeTXT  = mdns.TypeTXT
	TypeTLSA = mdns.TypeTLSA
)

// Limits and defaults (their only home).
const (
	DefaultTimeout    = 2 * time.Second  // one attempt: the UDP query and its TCP fallback
	DefaultAttempts   = 3                // attempts per lookup, rotating over the servers
	DefaultFailureTTL = 30 * time.Second // how long a failure (timeout, SERVFAIL) is remembered
	DefaultResolvConf = "/etc/resolv.conf"
	// MaxRecords is how many records of one answer are kept; the rest are dropped and Answer.Capped is set.
	MaxRecords = 64
	maxCNAMEs  = 8 // aliases followed for one name
	// negativeTTLCap caps how long an empty answer or NXDOMAIN is kept (RFC 2308 5 suggests 1 to 3 hours; a run is shorter).
	negativeTTLCap = 300
	ednsSize       = 1232  // EDNS0 UDP size we offer (DNS flag day 2020)
	maxMessage     = 65535 // the largest DNS message, over UDP or TCP
)

// Config configures a Resolver; the zero value asks the system's resolvers.
type Config struct {
	Servers    []string         // resolvers as ADDR[:PORT] (see ParseServer); default: those of /etc/resolv.conf
	Timeout    time.Duration    // per attempt; default DefaultTimeout
	Attempts   int              // per lookup; default DefaultAttempts
	FailureTTL time.Duration    // how long failures are cached; default DefaultFailureTTL
	Now        func() time.Time // the clock for cache expiry; default time.Now
}

// Resolver looks records up and caches the answers for the run; it is safe for concurrent use.
type Resolver struct {
	cfg        Config
	servers    []string
	mu         sync.Mutex
	cache      map[cacheKey]*entry
	queries    atomic.Int64
	tcpQueries atomic.Int64
	hits       atomic.Int64
}

type cacheKey struct {
	name  string
	qtype uint16
}

type entry struct {
	done    chan struct{}
	ans     *Answer
	err     error
	expires time.Time
}

// New returns a Resolver for cfg; servers are checked and completed with port 53.
func New(cfg Config) (*Resolver, error) {
	if len(cfg.Servers) == 0 {
		s, err := SystemServers(DefaultResolvConf)
		if err != nil {
			return nil, err
		}
		cfg.Servers = s
	}
	r := &Resolver{cache: map[cacheKey]*entry{}}
	for _, s := range cfg.Servers {
		addr, err := ParseServer(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, addr)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.FailureTTL <= 0 {
		cfg.FailureTTL = DefaultFailureTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Servers = r.servers
	r.cfg = cfg
	return r, nil
}

// Servers returns the resolvers asked, as host:port.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }

// ParseServer turns ADDR[:PORT] (an IPv4 or IPv6 address, IPv6 with a port in brackets) into host:port, port 53 by default.
func ParseServer(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", fmt.Errorf("resolver %q: port 0", s)
		}
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		if _, err := netip.ParseAddr(host); err != nil {
			return "", fmt.Errorf("resolver %q: %q is not an IP address", s, host)
		}
		return "", fmt.Errorf("resolver %q: %q is not a port number", s, port)
	}
	return "", fmt.Errorf("resolver %q: not an IP address or IP:port", s)
}

// SystemServers returns the nameservers of a resolv.conf file (with their port).
func SystemServers(path string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("system resolvers: %w", err)
	}
	var out []string
	for _, s := range cc.Servers {
		addr, err := ParseServer(net.JoinHostPort(s, cc.Port))
		if err != nil {
			return nil, fmt.Errorf("%s: nameserver: %w", path, err)
		}
		out = append(out, addr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no nameserver line", path)
	}
	return out, nil
}

// Stats counts the work of a Resolver.
type Stats struct {
	Queries   int // queries sent (each attempt counts; a TCP fallback is part of its attempt)
	TCP       int // attempts that fell back to TCP after a truncated UDP answer
	CacheHits int // lookups answered from the cache or by a lookup already under way
}

// Stats returns what the Resolver has done so far.
func (r *Resolver) Stats() Stats {
	return Stats{Queries: int(r.queries.Load()), TCP: int(r.tcpQueries.Load()), CacheHits: int(r.hits.Load())}
}

// Answer is the outcome of one lookup; callers share it and must not modify it.
type Answer struct {
	Name      string    // the name asked for, lower case, without the trailing dot
	Type      uint16    // the record type asked for
	Canonical string    // the name the records belong to, after following CNAMEs
	CNAMEs    []string  // the aliases followed, in order (the name asked for first); empty without CNAME
	Records   []mdns.RR // the records of Type (at most MaxRecords)
	Capped    bool      // more records were in the answer than MaxRecords
	AD        bool      // every answer on the way had the AD bit: the resolver validated it with DNSSEC
	TTL       uint32    // the smallest TTL of the records and aliases (or of the negative answer)
	Server    string    // the resolver that answered
}

// Lookup returns the records of qtype at name, from the cache when a
// lookup of the same name and type was made in this run (and its TTL has
// not passed) or is under way. An empty answer (NODATA) is no error; an
// error is an *Error.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	return r.lookup(ctx, name, qtype, nil)
}

// lookup looks name up; chain holds the aliases that led to it.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16, chain []string) (*Answer, error) {
	fq := strings.ToLower(mdns.Fqdn(strings.TrimSpace(name)))
	if _, ok := mdns.IsDomainName(fq); !ok || fq == "." || len(fq) > 254 {
		return nil, &Error{Name: name, Type: typeName(qtype), Kind: BadName, Rcode: -1}
	}
	k := cacheKey{fq, qtype}
	r.mu.Lock()
	e := r.cache[k]
	if e != nil {
		select {
		case <-e.done:
			if r.cfg.Now().After(e.expires) {
				e = nil
			}
		default: // under way
		}
	}
	if e == nil {
		e = &entry{done: make(chan struct{})}
		r.cache[k] = e
		r.mu.Unlock()
		// The lookup runs on its own, bounded by the resolver's deadlines,
		// so a caller that gives up does not fail the others waiting.
		go r.fill(context.WithoutCancel(ctx), e, fq, qtype, chain)
	} else {
		r.mu.Unlock()
		r.hits.Add(1)
	}
	select {
	case <-e.done:
		return e.ans, e.err
	case <-ctx.Done():
		return nil, r.fail(fq, qtype, Timeout, -1, "", ctx.Err())
	}
}

func (r *Resolver) fill(ctx context.Context, e *entry, fq string, qtype uint16, chain []string) {
	defer close(e.done)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.cfg.Attempts)*r.cfg.Timeout+time.Second)
	defer cancel()
	ttl := r.cfg.FailureTTL
	defer func() { e.expires = r.cfg.Now().Add(ttl) }()
	msg, server, err := r.exchange(ctx, fq, qtype)
	if err != nil {
		e.err = err
		return
	}
	ans, next := parse(msg, fq, qtype)
	ans.Server = server
	ttl = time.Duration(ans.TTL) * time.Second
	if msg.Rcode == mdns.RcodeNameError {
		nx := r.fail(fq, qtype, NXDOMAIN, msg.Rcode, server, nil)
		nx.AD = ans.AD
		e.err = nx
		return
	}
	if next != "" {
		// The server gave an alias but not its records: ask for the target.
		chain = append(chain[:len(chain):len(chain)], ans.CNAMEs...)
		if len(chain) >= maxCNAMEs || slices.Contains(chain, next) {
			e.err = r.fail(fq, qtype, Malformed, -1, server, fmt.Errorf("alias loop or more than %d aliases: %s", maxCNAMEs, strings.Join(append(chain, next), " -> ")))
			ttl = r.cfg.FailureTTL
			return
		}
		more, err := r.lookup(ctx, next, qtype, chain)
		if err != nil {
			e.err = err
			ttl = r.cfg.FailureTTL
			return
		}
		merged := *more
		merged.Name, merged.CNAMEs = ans.Name, append(append([]string(nil), ans.CNAMEs...), more.CNAMEs...)
		merged.AD = ans.AD && more.AD
		merged.TTL = min(ans.TTL, more.TTL)
		ans = &merged
		ttl = time.Duration(ans.TTL) * time.Second
	}
	e.ans = ans
}

// parse reads the records of qtype at fq out of msg, following the CNAMEs
// it holds; next is the last alias's target when msg holds no records for
// it (a resolver chases aliases itself, an authoritative server may not).
func parse(msg *mdns.Msg, fq string, qtype uint16) (ans *Answer, next string) {
	ans = &Answer{Name: strings.TrimSuffix(fq, "."), Type: qtype, AD: msg.AuthenticatedData}
	ttl := uint32(negativeTTLCap)
	positive := uint32(1<<32 - 1)
	cur := fq
	for hop := 0; hop <= maxCNAMEs; hop++ {
		var alias string
		for _, rr := range msg.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, cur) || h.Class != mdns.ClassINET {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				if len(ans.Records) < MaxRecords {
					ans.Records = append(ans.Records, rr)
				} else {
					ans.Capped = true
				}
				positive = min(positive, h.Ttl)
			case h.Rrtype == mdns.TypeCNAME && alias == "":
				alias = strings.ToLower(rr.(*mdns.CNAME).Target)
				positive = min(positive, h.Ttl)
			}
		}
		if len(ans.Records) > 0 || alias == "" {
			break
		}
		ans.CNAMEs = append(ans.CNAMEs, strings.TrimSuffix(cur, "."))
		cur = alias
	}
	ans.Canonical = strings.TrimSuffix(cur, ".")
	if len(ans.Records) > 0 {
		ans.TTL = positive
		return ans, ""
	}
	// A negative answer lives as long as its SOA says (RFC 2308 5).
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			ttl = min(ttl, soa.Hdr.Ttl, soa.Minttl)
		}
	}
	ans.TTL = min(ttl, positive)
	if len(ans.CNAMEs) > 0 && msg.Rcode == mdns.RcodeSuccess {
		next = ans.Canonical
	}
	return ans, next
}

func typeName(t uint16) string {
	if s, ok := mdns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}
