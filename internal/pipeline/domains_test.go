package pipeline

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/revocation"
)

// needIPv6 skips a test when ::1 cannot be used, except under CI.
func needIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("::1 is needed (CI=true): %v", err)
		}
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
}

// dialLog counts the connections a run opens, by address and at most at
// once per key (an address, or the provider its address belongs to).
type dialLog struct {
	mu       sync.Mutex
	key      func(addr string) string
	dials    map[string]int
	open     map[string]int
	most     map[string]int
	refusing map[string]bool // addresses a test must never reach
	order    []string        // addresses in the order they were dialled
}

func newDialLog(key func(addr string) string) *dialLog {
	if key == nil {
		key = func(addr string) string { return addr }
	}
	return &dialLog{key: key, dials: map[string]int{}, open: map[string]int{}, most: map[string]int{}, refusing: map[string]bool{}}
}

func (d *dialLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	if d.refusing[addr] {
		d.mu.Unlock()
		return nil, fmt.Errorf("test: %s must not be dialled", addr)
	}
	k := d.key(addr)
	d.order = append(d.order, addr)
	d.dials[addr]++
	d.open[k]++
	d.most[k] = max(d.most[k], d.open[k])
	d.mu.Unlock()
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		d.mu.Lock()
		d.open[k]--
		d.mu.Unlock()
		return nil, err
	}
	return &countedConn{Conn: c, close: sync.OnceFunc(func() { d.mu.Lock(); d.open[k]--; d.mu.Unlock() })}, nil
}

func (d *dialLog) count(addr string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials[addr]
}

func (d *dialLog) total() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.dials {
		n += c
	}
	return n
}

// resolverFor returns a DNS client asking only s.
func resolverFor(t testing.TB, s *fleet.DNSServer, timeout time.Duration) *dns.Resolver {
	t.Helper()
	r, err := dns.New(dns.Config{Servers: []string{s.Addr}, Timeout: timeout, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDomainFleet audits the fleet's partners known by their domain only,
// through a real DNS server on 127.0.0.1 and SMTP servers on distinct
// loopback addresses and ::1, with every rule of RFC 5321 5.1.
func TestDomainFleet(t *testing.T) {
	f, srv, tr := startDNSFleet(t, fleet.Options{Domains: true})
	log := newDialLog(nil)
	rev := revocation.NewFetcher(revocation.Options{Timeout: time.Second})
	res := ProbeAll(context.Background(), f.Partners(), Options{
		DNS:   resolverFor(t, srv, time.Second),
		Probe: probe.Options{HELO: "audit.test", Timeout: 3 * time.Second, ConnectTimeout: time.Second, OneKeyType: true, Dial: log.dial},
		Roots: tr.Pool, StoreOf: tr.StoreOf, PrivateRoots: tr.PrivateRoots(f.Now), Now: f.Now,
		Inspect: rev.Inspector(tr.Pool, f.Now),
	})
	if res.Incomplete {
		t.Error("complete run marked incomplete")
	}
	byName := map[string]*audit.Result{}
	for i := range res.Partners {
		r := &res.Partners[i]
		if byName[r.Name] != nil {
			t.Errorf("partner %q has two results: rows of one name must be one partner", r.Name)
		}
		byName[r.Name] = r
	}
	// Every scenario's verdicts, the domain partners' targets counted.
	for _, sc := range f.Scenarios {
		r := byName[sc.Partner.Name]
		if r == nil {
			t.Errorf("%s: no result", sc.Partner.Name)
			continue
		}
		if !slices.Equal(r.Verdicts, sc.Expect) {
			t.Errorf("%s: verdicts %v, want %v (details %v)", r.Name, r.Verdicts, sc.Expect, r.Details)
		}
		if sc.Domain != nil && len(r.Targets) != sc.Domain.Targets {
			t.Errorf("%s: %d targets, want %d: %v", r.Name, len(r.Targets), sc.Domain.Targets, targetNames(r))
		}
	}
	v6 := ipv6()

	t.Run("two MX, the secondary expired", func(t *testing.T) {
		r := byName["Contoso Shipping"]
		if r.TargetsText() != "1 of 2 addresses" || r.Host != "mx2.contoso-shipping.example" || r.VerdictSeverity(r.Verdict) != audit.Critical {
			t.Errorf("%q, host %s, severity %s", r.TargetsText(), r.Host, r.VerdictSeverity(r.Verdict))
		}
		if p := r.Targets; len(p) == 2 && (p[0].MX != "mx1.contoso-shipping.example" || p[0].Preference != 10 || p[1].Preference != 20 ||
			p[0].Found != audit.FoundMX || p[0].Verdict != audit.Valid || p[1].Verdict != audit.Expired || len(p[1].Chain) == 0) {
			t.Errorf("targets %+v", targetNames(r))
		}
		if !strings.Contains(r.Details[audit.Expired], "mx2.contoso-shipping.example [") {
			t.Errorf("detail does not name the target: %q", r.Details[audit.Expired])
		}
	})
	t.Run("the IPv6 address serves another certificate", func(t *testing.T) {
		if !v6 {
			t.Skip("no IPv6 loopback")
		}
		r := byName["Dual Stack AG"]
		fam := map[string]audit.Verdict{}
		for _, tg := range r.Targets {
			fam[tg.Family] = tg.Verdict
		}
		if fam[audit.IPv4] != audit.Valid || fam[audit.IPv6] != audit.UntrustedRoot || r.Address != "::1" {
			t.Errorf("by family %v, worst at %s", fam, r.Address)
		}
	})
	t.Run("IPv6-only MX", func(t *testing.T) {
		if !v6 {
			t.Skip("no IPv6 loopback")
		}
		r := byName["IPv6 Only GmbH"]
		if len(r.Targets) != 1 || r.Targets[0].Family != audit.IPv6 || r.Targets[0].Address != "::1" || r.Targets[0].Port != f.AltPort() {
			t.Errorf("targets %v", targetNames(r))
		}
	})
	t.Run("implicit MX", func(t *testing.T) {
		r := byName["Implicit MX Ltd"]
		if len(r.Targets) != 1 || r.Targets[0].Found != audit.FoundImplicit || r.Targets[0].MX != "implicit-mx.example" {
			t.Errorf("targets %+v", targetNames(r))
		}
	})
	t.Run("null MX", func(t *testing.T) {
		r := byName["Null MX Inc"]
		if r.Verdict != audit.NullMX || !strings.Contains(r.Details[audit.NullMX], "null MX") || r.Remedy == "" || r.VerdictSeverity(audit.NullMX) != audit.Error {
			t.Errorf("%s %q %q", r.Verdict, r.Details, r.Remedy)
		}
	})
	t.Run("partners on one provider share its probes", func(t *testing.T) {
		var shared []string
		for _, name := range []string{"Hosted Partner One", "Hosted Partner Two", "Hosted Partner Three"} {
			for _, tg := range byName[name].Targets {
				if !strings.HasSuffix(tg.MX, ".mailprovider.example") {
					t.Errorf("%s: target %s", name, tg.String())
				}
				if tg.SharedWith != "" {
					shared = append(shared, name)
				}
			}
		}
		if len(shared) < 4 {
			t.Errorf("targets sharing a probe: %v", shared)
		}
		// Every distinct target (MX name, address, port) is probed once,
		// however many partners name it: an address reached under two
		// names (an alias MX) is probed once per name, for its SNI.
		distinct := map[string]map[string]bool{}
		for _, r := range res.Partners {
			for _, tg := range r.Targets {
				if a := tg.Target().DialAddress(); a != "" {
					if distinct[a] == nil {
						distinct[a] = map[string]bool{}
					}
					distinct[a][tg.MX] = true
				}
			}
		}
		for a, names := range distinct {
			if n := log.count(a); n != len(names) {
				t.Errorf("%s probed %d times for %d names", a, n, len(names))
			}
		}
	})
	t.Run("a row whose host is not an MX of its domain", func(t *testing.T) {
		r := byName["Moved Partner"]
		if !slices.ContainsFunc(r.Findings, func(f audit.Finding) bool {
			return f.Check == discovery.CheckDrift && f.Severity == audit.Error && strings.Contains(f.Message, "mx1.mailprovider.example") && strings.Contains(f.Message, "mx.old-moved.example")
		}) {
			t.Errorf("no drift finding: %+v", r.Findings)
		}
		// A row whose host is an MX of its domain gets none.
		if fs := byName["Valid Corp"].Findings; slices.ContainsFunc(fs, func(f audit.Finding) bool { return f.Check == discovery.CheckDrift }) {
			t.Errorf("drift finding on a listed host: %+v", fs)
		}
	})
	t.Run("MX findings: alias, dangling, IP literal", func(t *testing.T) {
		r := byName["Sloppy DNS Co"]
		for _, want := range []string{"alias (CNAME)", "gone.sloppy.example does not resolve", "192.0.2.1 is an IP address"} {
			if !slices.ContainsFunc(r.Findings, func(f audit.Finding) bool { return f.Check == discovery.CheckMX && strings.Contains(f.Message, want) }) {
				t.Errorf("no finding %q: %+v", want, r.Findings)
			}
		}
		if log.count("192.0.2.1:"+strconv.Itoa(f.Port())) != 0 {
			t.Error("an IP literal MX was dialled")
		}
	})
	t.Run("DNS failures named", func(t *testing.T) {
		for name, kind := range map[string]string{"Vanished Corp": "NXDOMAIN", "Broken DNS GmbH": "SERVFAIL"} {
			r := byName[name]
			if d := r.Details[audit.DNSError]; !strings.Contains(d, kind) || !strings.Contains(d, "MX lookup") || len(r.Targets) != 0 {
				t.Errorf("%s: detail %q, %d targets", name, d, len(r.Targets))
			}
		}
	})
	t.Run("one query per name and type", func(t *testing.T) {
		for _, name := range []string{"mx1.mailprovider.example", "mx2.mailprovider.example"} {
			if n := srv.Queries(name, "A"); n != 1 {
				t.Errorf("%s/A asked %d times", name, n)
			}
		}
	})
}

func targetNames(r *audit.Result) []string {
	var out []string
	for _, t := range r.Targets {
		out = append(out, t.String()+"="+string(t.Verdict)+"/"+t.Found)
	}
	return out
}

func ipv6() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// providerFixture runs a provider's MX hosts on loopback addresses, all on
// one port, with a valid certificate, and a DNS server naming them.
type providerFixture struct {
	port    int
	servers map[string]*fleet.Server // by address
	dns     *fleet.DNSServer
	pool    *fleet.CA
	now     time.Time
}

// startProvider starts one server per address of hosts (host -> addresses) on a common port.
func startProvider(t *testing.T, hosts map[string][]string, lineDelay time.Duration, dnsOpts fleet.DNSOptions, records ...string) *providerFixture {
	t.Helper()
	now := time.Now()
	root, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Provider Root", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pf := &providerFixture{servers: map[string]*fleet.Server{}, pool: root, now: now}
	var names []string
	for h := range hosts {
		names = append(names, h)
	}
	slices.Sort(names)
	for attempt := 0; ; attempt++ {
		err = pf.listen(hosts, names, root, lineDelay)
		if err == nil {
			break
		}
		if attempt == 10 {
			t.Fatal(err)
		}
	}
	for _, h := range names {
		for _, a := range hosts[h] {
			rr := "A"
			if strings.Contains(a, ":") {
				rr = "AAAA"
			}
			records = append(records, fmt.Sprintf("%s. 300 IN %s %s", h, rr, a))
		}
	}
	if pf.dns, err = fleet.NewDNSServer(dnsOpts, records...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pf.dns.Close)
	return pf
}

func (pf *providerFixture) listen(hosts map[string][]string, names []string, root *fleet.CA, lineDelay time.Duration) error {
	for _, s := range pf.servers {
		s.Close()
	}
	pf.servers, pf.port = map[string]*fleet.Server{}, 0
	for _, h := range names {
		leaf, err := root.Issue(fleet.CertSpec{CommonName: h, DNSNames: []string{h}, NotBefore: pf.now.Add(-time.Hour), NotAfter: pf.now.Add(24 * time.Hour)})
		if err != nil {
			return err
		}
		for _, a := range hosts[h] {
			s, err := fleet.Listen(net.JoinHostPort(a, strconv.Itoa(pf.port)), fleet.Behavior{Name: h, Cert: leaf.TLSCert(), LineDelay: lineDelay, EHLO: []string{}})
			if err != nil {
				return err
			}
			pf.servers[a] = s
			if pf.port == 0 {
				_, p, _ := net.SplitHostPort(s.Addr)
				pf.port, _ = strconv.Atoi(p)
			}
		}
	}
	return nil
}

func (pf *providerFixture) close() {
	for _, s := range pf.servers {
		s.Close()
	}
}

func (pf *providerFixture) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(pf.pool.Cert)
	return p
}

// TestSharedProviderProbes: 300 partner domains on one provider's MX cost
// one probe per provider address, not 300, and one DNS query per name.
func TestSharedProviderProbes(t *testing.T) {
	needIPv6(t)
	var rows []audit.Partner
	pf := startProvider(t, map[string][]string{"mx.hosted.example": {"127.0.31.1", "::1"}}, 0, fleet.DNSOptions{})
	defer pf.close()
	for i := range 300 {
		d := fmt.Sprintf("partner%03d.example", i)
		if err := pf.dns.Add(d + ". 300 IN MX 10 mx.hosted.example."); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, audit.Partner{Name: fmt.Sprintf("Partner %03d", i), Domain: d, Port: pf.port, TLS: audit.StartTLS})
	}
	log := newDialLog(nil)
	res := ProbeAll(context.Background(), rows, Options{DNS: resolverFor(t, pf.dns, time.Second), Roots: pf.roots(),
		Probe: probe.Options{HELO: "audit.test", OneKeyType: true, Dial: log.dial}})
	if len(res.Partners) != 300 {
		t.Fatalf("%d results", len(res.Partners))
	}
	for _, r := range res.Partners {
		if r.Verdict != audit.Valid || len(r.Targets) != 2 {
			t.Fatalf("%s: %v %v", r.Name, r.Verdicts, targetNames(&r))
		}
	}
	if n := log.total(); n != 2 {
		t.Errorf("%d probes for 300 partners on one MX with two addresses, want 2", n)
	}
	if n := pf.dns.Queries("mx.hosted.example", "AAAA"); n != 1 {
		t.Errorf("the provider's AAAA asked %d times", n)
	}
	if got := res.Partners[299].Targets[0].SharedWith; got != "Partner 000" {
		t.Errorf("shared_probe_with %q", got)
	}
}

// TestPerProviderLimit: many MX hosts under one registered domain (a hosted
// service giving each customer its own MX name) never get more than
// --per-provider connections at once, observed at the dialer, while
// another provider's are not held up behind them.
func TestPerProviderLimit(t *testing.T) {
	hosts := map[string][]string{}
	var records []string
	var rows []audit.Partner
	for i := range 24 {
		h := fmt.Sprintf("tenant%02d.mail.bigprovider.example", i)
		hosts[h] = []string{fmt.Sprintf("127.0.32.%d", i+1)}
		d := fmt.Sprintf("customer%02d.example", i)
		records = append(records, d+". 300 IN MX 10 "+h+".")
		rows = append(rows, audit.Partner{Name: d, Domain: d})
	}
	for i := range 6 {
		h := fmt.Sprintf("mx.small%d.example", i)
		hosts[h] = []string{fmt.Sprintf("127.0.33.%d", i+1)}
		d := fmt.Sprintf("small%d.example", i)
		records = append(records, d+". 300 IN MX 10 "+h+".")
		rows = append(rows, audit.Partner{Name: d, Domain: d})
	}
	pf := startProvider(t, hosts, 20*time.Millisecond, fleet.DNSOptions{}, records...)
	defer pf.close()
	for i := range rows {
		rows[i].Port, rows[i].TLS = pf.port, audit.StartTLS
	}
	provider := func(addr string) string {
		if strings.HasPrefix(addr, "127.0.32.") {
			return "bigprovider.example"
		}
		return addr
	}
	log := newDialLog(provider)
	res := ProbeAll(context.Background(), rows, Options{DNS: resolverFor(t, pf.dns, time.Second), Roots: pf.roots(), PerProvider: 3,
		Probe: probe.Options{HELO: "audit.test", OneKeyType: true, Dial: log.dial}})
	for _, r := range res.Partners {
		if r.Verdict != audit.Valid {
			t.Fatalf("%s: %v %s", r.Name, r.Verdicts, r.Error)
		}
	}
	if m := log.most["bigprovider.example"]; m != 3 {
		t.Errorf("%d connections at once to one provider, want 3 (--per-provider)", m)
	}
	// The small partners each have their own provider: all six started
	// while the big provider's 24 queued, though they come last.
	if log.total() != 30 {
		t.Errorf("%d probes, want 30", log.total())
	}
	last := 0
	for i, a := range log.order {
		if strings.HasPrefix(a, "127.0.33.") {
			last = i
		}
	}
	if last > 12 {
		t.Errorf("the last small partner was dialled %dth: held up behind the big provider (%v)", last+1, log.order)
	}
}

// TestDNSFailures: each kind of DNS failure is a DNSError naming it, and
// a truncated answer is asked again over TCP.
func TestDNSFailures(t *testing.T) {
	var addrs []string
	for i := range 16 {
		addrs = append(addrs, fmt.Sprintf("127.0.34.%d", i+1))
	}
	pf := startProvider(t, map[string][]string{"mx.big.example": addrs}, 0, fleet.DNSOptions{})
	defer pf.close()
	// The MX is an alias through two long names: with 16 addresses the
	// answer is larger than 512 bytes and comes truncated over UDP.
	long1 := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".big.example."
	long2 := strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 60) + ".big.example."
	records := []string{
		"big.example. 300 IN MX 10 mx.big.example.",
		"mx.big.example. 300 IN CNAME " + long1,
		long1 + " 300 IN CNAME " + long2,
		"refused.example. 300 IN MX 10 mx.big.example.",
		"silent.example. 300 IN MX 10 mx.big.example.",
	}
	for _, a := range addrs {
		records = append(records, long2+" 300 IN A "+a)
	}
	srv, err := fleet.NewDNSServer(fleet.DNSOptions{NoEDNS0: true}, records...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetRcode("servfail.example", mdns.RcodeServerFailure)
	srv.SetRcode("refused.example", mdns.RcodeRefused)
	srv.Misbehave("silent.example", fleet.DNSSilent)
	tests := []struct {
		name, domain, kind string
		targets            int
	}{
		{"NXDOMAIN", "nothing-here.example", "NXDOMAIN", 0},
		{"SERVFAIL", "servfail.example", "SERVFAIL", 0},
		{"REFUSED", "refused.example", "REFUSED", 0},
		{"timeout", "silent.example", "timeout", 0},
		{"truncated answer over TCP", "big.example", "", 16},
	}
	var rows []audit.Partner
	for _, tt := range tests {
		rows = append(rows, audit.Partner{Name: tt.name, Domain: tt.domain, Port: pf.port, TLS: audit.StartTLS})
	}
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	res := ProbeAll(context.Background(), rows, Options{DNS: r, Roots: pf.roots(), Probe: probe.Options{HELO: "audit.test", OneKeyType: true}})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := res.Partners[i]
			if len(got.Targets) != tt.targets {
				t.Errorf("%d targets, want %d", len(got.Targets), tt.targets)
			}
			if tt.kind == "" {
				if got.Verdict != audit.Valid || !slices.ContainsFunc(got.Findings, func(f audit.Finding) bool { return strings.Contains(f.Message, "alias (CNAME)") }) {
					t.Errorf("verdicts %v %v, findings %+v", got.Verdicts, got.Details, got.Findings)
				}
				return
			}
			if got.Verdict != audit.DNSError || !strings.Contains(got.Details[audit.DNSError], tt.kind) || !strings.Contains(got.Details[audit.DNSError], tt.domain) {
				t.Errorf("verdict %s, detail %q; want DNSError naming %s and %s", got.Verdict, got.Details[audit.DNSError], tt.kind, tt.domain)
			}
		})
	}
	if _, tcp := srv.Total(); tcp == 0 {
		t.Error("the truncated answer was not asked again over TCP")
	}
}

// TestMXModes: --mx primary audits the most preferred MX only, --ip 4 and
// --ip 6 one family; a family this machine cannot reach is said once for
// the run and is no failure of the partner; --follow-mx audits the MX of a
// row whose host is not among them.
func TestMXModes(t *testing.T) {
	needIPv6(t)
	pf := startProvider(t, map[string][]string{
		"mx1.two.example": {"127.0.35.1", "::1"}, "mx2.two.example": {"127.0.35.2"}, "mx.old.example": {"127.0.35.3"},
		"mx.far.example": {"127.0.35.4"},
	}, 0, fleet.DNSOptions{},
		"two.example. 300 IN MX 10 mx1.two.example.",
		"two.example. 300 IN MX 20 mx2.two.example.",
		"far.example. 300 IN MX 10 mx.far.example.",
		"mx.far.example. 300 IN AAAA 2001:db8::25",
	)
	defer pf.close()
	tests := []struct {
		name    string
		row     audit.Partner
		opts    Options
		targets []string // Found:MX [address]
		notes   string
	}{
		{"all MX, both families", audit.Partner{Domain: "two.example"}, Options{},
			[]string{"mx:mx1.two.example [127.0.35.1]", "mx:mx1.two.example [::1]", "mx:mx2.two.example [127.0.35.2]"}, ""},
		{"primary MX", audit.Partner{Domain: "two.example"}, Options{MX: discovery.PrimaryMX},
			[]string{"mx:mx1.two.example [127.0.35.1]", "mx:mx1.two.example [::1]"}, ""},
		{"IPv4 only", audit.Partner{Domain: "two.example"}, Options{IP: discovery.V4},
			[]string{"mx:mx1.two.example [127.0.35.1]", "mx:mx2.two.example [127.0.35.2]"}, ""},
		{"IPv6 only", audit.Partner{Domain: "two.example"}, Options{IP: discovery.V6},
			[]string{"mx:mx1.two.example [::1]"}, ""},
		{"no route to IPv6", audit.Partner{Domain: "far.example"}, Options{Reach: &discovery.Reach{V4: true}},
			[]string{"mx:mx.far.example [127.0.35.4]"}, "IPv6 not tested from here"},
		{"drift, followed", audit.Partner{Domain: "two.example", Host: "mx.old.example"}, Options{FollowMX: true, IP: discovery.V4},
			[]string{"host:mx.old.example [127.0.35.3]", "follow-mx:mx1.two.example [127.0.35.1]", "follow-mx:mx2.two.example [127.0.35.2]"}, ""},
		{"drift, not followed", audit.Partner{Domain: "two.example", Host: "mx.old.example"}, Options{IP: discovery.V4},
			[]string{"host:mx.old.example [127.0.35.3]"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := newDialLog(nil)
			log.refusing["[2001:db8::25]:"+strconv.Itoa(pf.port)] = true
			opts := tt.opts
			opts.DNS, opts.Roots = resolverFor(t, pf.dns, time.Second), pf.roots()
			opts.Probe = probe.Options{HELO: "audit.test", OneKeyType: true, Dial: log.dial}
			if opts.Reach == nil {
				opts.Reach = &discovery.Reach{V4: true, V6: true}
			}
			row := tt.row
			row.Name, row.Port, row.TLS = "P", pf.port, audit.StartTLS
			res := ProbeAll(context.Background(), []audit.Partner{row}, opts)
			r := res.Partners[0]
			var got []string
			for _, tg := range r.Targets {
				got = append(got, tg.Found+":"+strings.TrimSuffix(tg.String(), ":"+strconv.Itoa(pf.port)))
			}
			if !slices.Equal(got, tt.targets) {
				t.Errorf("targets %v, want %v", got, tt.targets)
			}
			if r.Verdict != audit.Valid {
				t.Errorf("verdicts %v %v", r.Verdicts, r.Details)
			}
			if notes := strings.Join(res.Notes, "\n"); tt.notes != "" && !strings.Contains(notes, tt.notes) || tt.notes == "" && notes != "" {
				t.Errorf("notes %q, want %q", notes, tt.notes)
			}
			if tt.notes != "" && (len(r.NotTested) != 1 || !strings.Contains(r.NotTested[0], "2001:db8::25")) {
				t.Errorf("not tested: %v", r.NotTested)
			}
			if strings.HasPrefix(tt.name, "drift") {
				sev := audit.Error
				if opts.FollowMX {
					sev = audit.Warning
				}
				if !slices.ContainsFunc(r.Findings, func(f audit.Finding) bool { return f.Check == discovery.CheckDrift && f.Severity == sev }) {
					t.Errorf("drift finding at %s missing: %+v", sev, r.Findings)
				}
			}
		})
	}
}

// TestDomainInterrupted: a run stopped while probing marks the targets it
// did not probe NotProbed and the run incomplete.
func TestDomainInterrupted(t *testing.T) {
	pf := startProvider(t, map[string][]string{"mx1.slow.example": {"127.0.36.1"}, "mx2.slow.example": {"127.0.36.2"}}, 200*time.Millisecond, fleet.DNSOptions{},
		"slow.example. 300 IN MX 10 mx1.slow.example.", "slow.example. 300 IN MX 20 mx2.slow.example.")
	defer pf.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel) // as a signal does
	res := ProbeAll(ctx, []audit.Partner{{Name: "Slow", Domain: "slow.example", Port: pf.port, TLS: audit.StartTLS}},
		Options{DNS: resolverFor(t, pf.dns, time.Second), Roots: pf.roots(), PerProvider: 1, Probe: probe.Options{HELO: "audit.test", OneKeyType: true}})
	r := res.Partners[0]
	if !res.Incomplete || r.Verdict != audit.NotProbed || len(r.Targets) != 2 || r.Targets[0].Verdict != audit.NotProbed {
		t.Errorf("incomplete %v, verdict %s, targets %v", res.Incomplete, r.Verdict, targetNames(&r))
	}
}
