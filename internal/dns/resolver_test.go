package dns_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// zone is the data most tests serve.
var zone = []string{
	"example.test. 300 IN MX 10 mx1.example.test.",
	"example.test. 300 IN MX 20 mx2.example.test.",
	"mx1.example.test. 300 IN A 127.0.0.10",
	"mx1.example.test. 300 IN AAAA ::1",
	"mx2.example.test. 300 IN A 127.0.0.11",
	"alias.example.test. 300 IN CNAME mx1.example.test.",
	"alias2.example.test. 60 IN CNAME alias.example.test.",
	"loop1.example.test. 300 IN CNAME loop2.example.test.",
	"loop2.example.test. 300 IN CNAME loop1.example.test.",
	"_smtp._tls.example.test. 300 IN TXT \"v=TLSRPTv1; \" \"rua=mailto:tlsrpt@example.test\"",
	"_25._tcp.mx1.example.test. 300 IN TLSA 3 1 1 0D6FCE3317ECA0D3BBD5E4E0A5E4F5DAF7A0C56E3C1B4AA4A0B43A5F8A7D7E01",
	"nodata.example.test. 300 IN TXT \"only text\"",
	"under.empty.example.test. 300 IN A 127.0.0.12",
}

func server(t *testing.T, opts fleet.DNSOptions, records ...string) *fleet.DNSServer {
	t.Helper()
	s, err := fleet.NewDNSServer(opts, records...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func resolver(t *testing.T, cfg dns.Config, servers ...*fleet.DNSServer) *dns.Resolver {
	t.Helper()
	for _, s := range servers {
		cfg.Servers = append(cfg.Servers, s.Addr)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 500 * time.Millisecond
	}
	r, err := dns.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLookup(t *testing.T) {
	srv := server(t, fleet.DNSOptions{}, zone...)
	r := resolver(t, dns.Config{}, srv)
	ctx := context.Background()
	tests := []struct {
		name, qname string
		qtype       uint16
		want        []string // the records, as the accessor for the type gives them
		cnames      []string
		canonical   string
		ttl         uint32
	}{
		{"MX in preference order", "Example.Test.", dns.TypeMX, []string{"{10 mx1.example.test}", "{20 mx2.example.test}"}, nil, "example.test", 300},
		{"A", "mx1.example.test", dns.TypeA, []string{"127.0.0.10"}, nil, "mx1.example.test", 300},
		{"AAAA ::1", "mx1.example.test", dns.TypeAAAA, []string{"::1"}, nil, "mx1.example.test", 300},
		{"CNAME followed", "alias.example.test", dns.TypeA, []string{"127.0.0.10"}, []string{"alias.example.test"}, "mx1.example.test", 300},
		{"two CNAMEs, smallest TTL", "alias2.example.test", dns.TypeA, []string{"127.0.0.10"}, []string{"alias2.example.test", "alias.example.test"}, "mx1.example.test", 60},
		{"TXT strings joined", "_smtp._tls.example.test", dns.TypeTXT, []string{"v=TLSRPTv1; rua=mailto:tlsrpt@example.test"}, nil, "_smtp._tls.example.test", 300},
		{"TLSA", dns.TLSAName("mx1.example.test.", 25), dns.TypeTLSA, []string{"{3 1 1 0d6fce3317eca0d3bbd5e4e0a5e4f5daf7a0c56e3c1b4aa4a0b43a5f8a7d7e01}"}, nil, "_25._tcp.mx1.example.test", 300},
		{"NODATA is no error", "nodata.example.test", dns.TypeMX, nil, nil, "nodata.example.test", 60},
		{"empty non-terminal is NODATA", "empty.example.test", dns.TypeA, nil, nil, "empty.example.test", 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := r.Lookup(ctx, tt.qname, tt.qtype)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			switch tt.qtype {
			case dns.TypeMX:
				for _, m := range a.MX() {
					got = append(got, fmt.Sprint(m))
				}
			case dns.TypeA, dns.TypeAAAA:
				for _, ip := range a.Addrs() {
					got = append(got, ip.String())
				}
			case dns.TypeTXT:
				got = a.TXT()
			case dns.TypeTLSA:
				for _, x := range a.TLSA() {
					got = append(got, fmt.Sprint(x))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("records = %q, want %q", got, tt.want)
			}
			if !slices.Equal(a.CNAMEs, tt.cnames) || a.Canonical != tt.canonical {
				t.Errorf("aliases %q -> %q, want %q -> %q", a.CNAMEs, a.Canonical, tt.cnames, tt.canonical)
			}
			if a.TTL != tt.ttl {
				t.Errorf("TTL = %d, want %d", a.TTL, tt.ttl)
			}
			if a.AD {
				t.Error("AD set by a server that does not set it")
			}
			if a.Server != srv.Addr {
				t.Errorf("Server = %q, want %q", a.Server, srv.Addr)
			}
		})
	}
}

func TestADBitKept(t *testing.T) {
	for _, ad := range []bool{true, false} {
		t.Run(fmt.Sprint("AD=", ad), func(t *testing.T) {
			srv := server(t, fleet.DNSOptions{AD: ad}, zone...)
			r := resolver(t, dns.Config{}, srv)
			for _, q := range []struct {
				name  string
				qtype uint16
			}{{"example.test", dns.TypeMX}, {"alias.example.test", dns.TypeA}, {"nodata.example.test", dns.TypeMX}} {
				a, err := r.Lookup(context.Background(), q.name, q.qtype)
				if err != nil {
					t.Fatal(err)
				}
				if a.AD != ad {
					t.Errorf("%s: AD = %v, want %v", q.name, a.AD, ad)
				}
			}
		})
	}
}

func TestFailures(t *testing.T) {
	srv := server(t, fleet.DNSOptions{}, zone...)
	srv.SetRcode("servfail.example.test", mdns.RcodeServerFailure)
	srv.SetRcode("refused.example.test", mdns.RcodeRefused)
	srv.SetRcode("notimp.example.test", mdns.RcodeNotImplemented)
	srv.Misbehave("silent.example.test", fleet.DNSSilent)
	const timeout = 150 * time.Millisecond
	tests := []struct {
		name, qname string
		kind        dns.Kind
		sentinel    error
		rcode       int
		text        string
		queries     int // sent to the single server: SERVFAIL and REFUSED are not asked again of the same server
	}{
		{"NXDOMAIN", "nowhere.example.test", dns.NXDOMAIN, dns.ErrNXDOMAIN, mdns.RcodeNameError, "DNS MX lookup of nowhere.example.test: NXDOMAIN (resolver " + srv.Addr + ")", 1},
		{"SERVFAIL", "servfail.example.test", dns.SERVFAIL, dns.ErrSERVFAIL, mdns.RcodeServerFailure, "SERVFAIL", 1},
		{"REFUSED", "refused.example.test", dns.REFUSED, dns.ErrREFUSED, mdns.RcodeRefused, "REFUSED", 1},
		{"other rcode", "notimp.example.test", dns.OtherCode, nil, mdns.RcodeNotImplemented, "NOTIMP", 1},
		{"timeout after every attempt", "silent.example.test", dns.Timeout, dns.ErrTimeout, -1, "timeout", 2},
		{"bad name", "a..b", dns.BadName, nil, -1, "bad name", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resolver(t, dns.Config{Timeout: timeout, Attempts: 2}, srv)
			before := srv.Queries(tt.qname, "MX")
			start := time.Now()
			_, err := r.Lookup(context.Background(), tt.qname, dns.TypeMX)
			took := time.Since(start)
			var de *dns.Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a *dns.Error", err, err)
			}
			if de.Kind != tt.kind || de.Rcode != tt.rcode {
				t.Errorf("kind %q rcode %d, want %q %d", de.Kind, de.Rcode, tt.kind, tt.rcode)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if errors.Is(err, dns.ErrMalformed) {
				t.Errorf("%v matches ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not say %q", err, tt.text)
			}
			if got := srv.Queries(tt.qname, "MX") - before; got != tt.queries {
				t.Errorf("server got %d queries, want %d", got, tt.queries)
			}
			if took > 2*timeout+time.Second {
				t.Errorf("took %v", took)
			}
			if tt.kind == dns.Timeout {
				var ne net.Error
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("timeout %v does not unwrap to a net.Error timeout", err)
				}
			}
		})
	}
}

// A context that ends first ends the lookup, and the lookup still completes for others.
// A resolver address where nothing listens fails fast (port unreachable), not at the deadline.
func TestNothingListens(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	r, err := dns.New(dns.Config{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = r.Lookup(context.Background(), "example.test", dns.TypeMX)
	var de *dns.Error
	if !errors.As(err, &de) || de.Kind != dns.Network || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v, want a network error saying refused", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v", took)
	}
}

func TestCallerDeadline(t *testing.T) {
	srv := server(t, fleet.DNSOptions{Delay: 300 * time.Millisecond}, zone...)
	r := resolver(t, dns.Config{Timeout: time.Second}, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Lookup(ctx, "example.test", dns.TypeMX)
	if !errors.Is(err, dns.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout wrapping context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("the caller waited %v past its deadline", took)
	}
	a, err := r.Lookup(context.Background(), "example.test", dns.TypeMX)
	if err != nil || len(a.MX()) != 2 {
		t.Fatalf("second lookup: %v %v", a, err)
	}
	if q := srv.Queries("example.test", "MX"); q != 1 {
		t.Errorf("server got %d queries, want the first one shared", q)
	}
}

func TestTruncationFallsBackToTCP(t *testing.T) {
	var big []string
	for i := range 60 {
		big = append(big, fmt.Sprintf("big.example.test. 300 IN A 127.0.1.%d", i+1))
		big = append(big, fmt.Sprintf("bigmx.example.test. 300 IN MX %d mx%02d.a-rather-long-provider-name.example.test.", i, i))
	}
	tests := []struct {
		name  string
		opts  fleet.DNSOptions
		qname string
		qtype uint16
		want  int
	}{
		{"60 A over 512 bytes", fleet.DNSOptions{NoEDNS0: true}, "big.example.test", dns.TypeA, 60},
		{"60 MX over 1232 bytes", fleet.DNSOptions{}, "bigmx.example.test", dns.TypeMX, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, tt.opts, big...)
			r := resolver(t, dns.Config{}, srv)
			a, err := r.Lookup(context.Background(), tt.qname, tt.qtype)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(a.Records); n != tt.want {
				t.Errorf("%d records, want %d", n, tt.want)
			}
			all, tcp := srv.Total()
			if all != 2 || tcp != 1 {
				t.Errorf("server saw %d queries, %d over TCP; want 2, 1", all, tcp)
			}
			if s := r.Stats(); s.Queries != 1 || s.TCP != 1 {
				t.Errorf("stats %+v, want 1 query with 1 TCP fallback", s)
			}
		})
	}
}

func TestHostileResolver(t *testing.T) {
	srv := server(t, fleet.DNSOptions{}, zone...)
	for _, n := range []string{"garbage", "wrongid", "wrongq", "onlywrong", "huge"} {
		srv.Add(n + ".example.test. 60 IN A 127.0.0.20")
	}
	srv.Misbehave("garbage.example.test", fleet.DNSGarbage)
	srv.Misbehave("wrongid.example.test", fleet.DNSWrongID)
	srv.Misbehave("wrongq.example.test", fleet.DNSWrongQuestion)
	srv.Misbehave("onlywrong.example.test", fleet.DNSOnlyWrong)
	srv.Misbehave("huge.example.test", fleet.DNSHuge)
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name  string
		kind  dns.Kind // "" for success
		text  string
		addrs int
	}{
		{"garbage", dns.Timeout, "not a DNS message", 0},
		{"wrongid", "", "", 1}, // the spoofed answer is ignored, the real one taken
		{"wrongq", "", "", 1},  // likewise for an answer to another question
		{"onlywrong", dns.Timeout, "another query", 0},
		{"huge", "", "", dns.MaxRecords}, // 64 KiB over TCP, capped
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := resolver(t, dns.Config{Timeout: timeout, Attempts: 2}, srv)
			start := time.Now()
			a, err := r.Lookup(context.Background(), tt.name+".example.test", dns.TypeA)
			if took := time.Since(start); took > 2*timeout+time.Second {
				t.Errorf("took %v", took)
			}
			if tt.kind == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n := len(a.Addrs()); n != tt.addrs {
					t.Errorf("%d addresses, want %d", n, tt.addrs)
				}
				if a.Capped != (tt.addrs == dns.MaxRecords) {
					t.Errorf("Capped = %v", a.Capped)
				}
				return
			}
			var de *dns.Error
			if !errors.As(err, &de) || de.Kind != tt.kind || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want kind %q saying %q", err, tt.kind, tt.text)
			}
		})
	}
	t.Run("alias loop", func(t *testing.T) {
		r := resolver(t, dns.Config{Timeout: timeout}, srv)
		_, err := r.Lookup(context.Background(), "loop1.example.test", dns.TypeA)
		if !errors.Is(err, dns.ErrMalformed) || !strings.Contains(err.Error(), "alias loop") {
			t.Fatalf("err = %v, want an alias loop", err)
		}
	})
}

// Garbage over TCP (after a truncated UDP answer) fails the attempt cleanly.
func TestHostileTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pc, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() { // UDP: always truncated
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(mdns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			m := new(mdns.Msg)
			m.SetReply(q)
			m.Truncated = true
			b, _ := m.Pack()
			pc.WriteTo(b, from)
		}
	}()
	tests := []struct {
		name  string
		reply []byte
		kind  dns.Kind
	}{
		{"length then nothing", []byte{0x10, 0x00}, dns.Timeout},
		{"garbage of the announced length", append([]byte{0, 4}, "junk"...), dns.Malformed},
		{"closed at once", nil, dns.Network},
	}
	var mu sync.Mutex
	reply := []byte(nil)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			b := reply
			mu.Unlock()
			go func() {
				defer c.Close()
				if b == nil {
					return
				}
				c.Write(b)
				time.Sleep(time.Second)
			}()
		}
	}()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reply = tt.reply
			mu.Unlock()
			r, err := dns.New(dns.Config{Servers: []string{l.Addr().String()}, Timeout: 200 * time.Millisecond, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Lookup(context.Background(), "example.test", dns.TypeMX)
			var de *dns.Error
			if !errors.As(err, &de) || de.Kind != tt.kind {
				t.Fatalf("err = %v, want kind %q", err, tt.kind)
			}
		})
	}
}

func TestCache(t *testing.T) {
	srv := server(t, fleet.DNSOptions{Delay: 20 * time.Millisecond}, zone...)
	srv.SetRcode("servfail.example.test", mdns.RcodeServerFailure)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := resolver(t, dns.Config{Now: clock, FailureTTL: 30 * time.Second}, srv)

	lookups := func(name string, qtype uint16, n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.Lookup(context.Background(), name, qtype)
			}()
		}
		wg.Wait()
	}
	steps := []struct {
		name     string
		do       func()
		qname    string
		qtype    string
		wantSeen int
	}{
		{"300 concurrent lookups of one provider MX host: one query", func() { lookups("mx1.example.test", dns.TypeA, 300) }, "mx1.example.test", "A", 1},
		{"300 more later, within the TTL: still one", func() { advance(299 * time.Second); lookups("MX1.example.test.", dns.TypeA, 300) }, "mx1.example.test", "A", 1},
		{"the other type is its own query", func() { lookups("mx1.example.test", dns.TypeAAAA, 10) }, "mx1.example.test", "AAAA", 1},
		{"past the TTL: asked again once", func() { advance(2 * time.Second); lookups("mx1.example.test", dns.TypeA, 300) }, "mx1.example.test", "A", 2},
		{"NXDOMAIN is cached", func() { lookups("gone.example.test", dns.TypeA, 50); lookups("gone.example.test", dns.TypeA, 50) }, "gone.example.test", "A", 1},
		{"SERVFAIL is cached for FailureTTL", func() {
			lookups("servfail.example.test", dns.TypeA, 50)
			advance(29 * time.Second)
			lookups("servfail.example.test", dns.TypeA, 5)
		}, "servfail.example.test", "A", 1},
		{"and asked again after it", func() { advance(2 * time.Second); lookups("servfail.example.test", dns.TypeA, 5) }, "servfail.example.test", "A", 2},
		{"a CNAME's TTL caps the answer's", func() {
			lookups("alias2.example.test", dns.TypeA, 5)
			advance(61 * time.Second)
			lookups("alias2.example.test", dns.TypeA, 5)
		}, "alias2.example.test", "A", 2},
	}
	for _, s := range steps {
		s.do()
		if got := srv.Queries(s.qname, s.qtype); got != s.wantSeen {
			t.Errorf("%s: server saw %d queries for %s/%s, want %d", s.name, got, s.qname, s.qtype, s.wantSeen)
		}
	}
	if st := r.Stats(); st.CacheHits < 1000 {
		t.Errorf("stats %+v: want at least 1000 cache hits", st)
	}
}

func TestRetriesAndServers(t *testing.T) {
	good := server(t, fleet.DNSOptions{}, zone...)
	silent := server(t, fleet.DNSOptions{}, zone...)
	silent.Misbehave("example.test", fleet.DNSSilent)
	failing := server(t, fleet.DNSOptions{}, zone...)
	failing.SetRcode("example.test", mdns.RcodeServerFailure)
	tests := []struct {
		name    string
		servers []*fleet.DNSServer
	}{
		{"a silent resolver, then a good one", []*fleet.DNSServer{silent, good}},
		{"a failing resolver, then a good one", []*fleet.DNSServer{failing, good}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.servers[0].Queries("example.test", "MX")
			r := resolver(t, dns.Config{Timeout: 150 * time.Millisecond, Attempts: 2}, tt.servers...)
			a, err := r.Lookup(context.Background(), "example.test", dns.TypeMX)
			if err != nil {
				t.Fatal(err)
			}
			if a.Server != good.Addr || len(a.MX()) != 2 {
				t.Errorf("answer from %s with %v", a.Server, a.MX())
			}
			if n := tt.servers[0].Queries("example.test", "MX") - before; n != 1 {
				t.Errorf("the first resolver was asked %d times, want 1", n)
			}
		})
	}
}

func TestIPv6Resolver(t *testing.T) {
	srv, err := fleet.NewDNSServer(fleet.DNSOptions{Addr: "[::1]:0"}, zone...)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer srv.Close()
	r := resolver(t, dns.Config{}, srv)
	a, err := r.Lookup(context.Background(), "mx1.example.test", dns.TypeAAAA)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Addrs(); len(got) != 1 || got[0] != netip.IPv6Loopback() {
		t.Errorf("addresses %v, want [::1]", got)
	}
	if !strings.HasPrefix(a.Server, "[::1]:") {
		t.Errorf("server %q", a.Server)
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"127.0.0.1", "127.0.0.1:53", ""},
		{"127.0.0.1:5353", "127.0.0.1:5353", ""},
		{"::1", "[::1]:53", ""},
		{"[::1]", "[::1]:53", ""},
		{"[::1]:5353", "[::1]:5353", ""},
		{"resolver.example:53", "", `"resolver.example" is not an IP address`},
		{"127.0.0.1:dns", "", `"dns" is not a port number`},
		{"127.0.0.1:0", "", "port 0"},
		{"", "", "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := dns.ParseServer(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSystemServers(t *testing.T) {
	tests := []struct {
		file string
		want []string
		err  string
	}{
		{"resolv.conf", []string{"127.0.0.53:53", "[::1]:53"}, ""},
		{"resolv-empty.conf", nil, "no nameserver line"},
		{"missing.conf", nil, "missing.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := dns.SystemServers(filepath.Join("testdata", tt.file))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// LookupHost makes a Resolver a stand-in for net.Resolver (the pipeline's Resolver).
func TestLookupHost(t *testing.T) {
	srv := server(t, fleet.DNSOptions{}, zone...)
	srv.SetRcode("servfail.example.test", mdns.RcodeServerFailure)
	r := resolver(t, dns.Config{Attempts: 1}, srv)
	var _ interface {
		LookupHost(context.Context, string) ([]string, error)
	} = r
	tests := []struct {
		host string
		want []string
		kind dns.Kind
	}{
		{"mx1.example.test", []string{"127.0.0.10", "::1"}, ""},
		{"alias.example.test", []string{"127.0.0.10", "::1"}, ""},
		{"mx2.example.test", []string{"127.0.0.11"}, ""},
		{"nodata.example.test", nil, dns.NoAddress},
		{"gone.example.test", nil, dns.NXDOMAIN},
		{"servfail.example.test", nil, dns.SERVFAIL},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := r.LookupHost(context.Background(), tt.host)
			var de *dns.Error
			if tt.kind != "" && (!errors.As(err, &de) || de.Kind != tt.kind) {
				t.Fatalf("err = %v, want kind %q", err, tt.kind)
			}
			if tt.kind == "" && err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("= %q, want %q", got, tt.want)
			}
		})
	}
}
