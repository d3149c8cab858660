package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

var zone = append([]string{
	// A provider shared by many partners.
	"mx1.provider.test. 300 IN A 127.0.0.10",
	"mx1.provider.test. 300 IN AAAA ::1",
	"mx2.provider.test. 300 IN A 127.0.0.11",
	// Two MX at preference 10, a backup at 20.
	"multi.test. 300 IN MX 20 backup.multi.test.",
	"multi.test. 300 IN MX 10 mx2.provider.test.",
	"multi.test. 300 IN MX 10 MX1.Provider.Test.",
	"backup.multi.test. 300 IN A 127.0.0.12",
	// No MX: the domain's own addresses (RFC 5321 5.1).
	"implicit.test. 300 IN A 127.0.0.20",
	"implicit.test. 300 IN AAAA ::1",
	// No MX, and the domain is an alias of a host.
	"implicit-alias.test. 300 IN CNAME backup.multi.test.",
	// No MX and no address.
	"nomail.test. 300 IN TXT \"v=spf1 -all\"",
	// Null MX (RFC 7505), alone and mixed with another MX.
	"null.test. 300 IN MX 0 .",
	"nullmixed.test. 300 IN MX 0 .",
	"nullmixed.test. 300 IN MX 10 mx2.provider.test.",
	// An MX that is an alias.
	"cname.test. 300 IN MX 10 alias.cname.test.",
	"alias.cname.test. 300 IN CNAME mx1.provider.test.",
	// An MX that is an IP address, next to a good one.
	"literal.test. 300 IN MX 10 192.0.2.1.",
	"literal.test. 300 IN MX 20 mx2.provider.test.",
	// An MX that does not resolve, next to a good one; and one alone.
	"dangling.test. 300 IN MX 10 gone.dangling.test.",
	"dangling.test. 300 IN MX 20 mx2.provider.test.",
	"allbad.test. 300 IN MX 10 gone.allbad.test.",
	// An MX with only an IPv6 address.
	"v6only.test. 300 IN MX 10 v6.v6only.test.",
	"v6.v6only.test. 300 IN AAAA ::1",
	// An MX whose name lookups fail.
	"flaky.test. 300 IN MX 10 servfail.flaky.test.",
	// MX hosts with IPv6 addresses outside this machine.
	"far.test. 300 IN MX 10 mx.far.test.",
	"mx.far.test. 300 IN A 127.0.0.13",
	"mx.far.test. 300 IN AAAA 2001:db8::13",
	"v6far.test. 300 IN MX 10 v6.v6far.test.",
	"v6.v6far.test. 300 IN AAAA 2001:db8::14",
}, many()...)

// many gives many.test 20 MX hosts with an address each.
func many() (out []string) {
	for i := range 20 {
		out = append(out, fmt.Sprintf("many.test. 300 IN MX %d h%02d.many.test.", i, i), fmt.Sprintf("h%02d.many.test. 300 IN A 127.0.3.%d", i, i+1))
	}
	return out
}

func hostsMany(n int) (out []string) {
	for i := range n {
		out = append(out, fmt.Sprintf("h%02d.many.test=127.0.3.%d:25", i, i+1))
	}
	return out
}

func setup(t testing.TB, opts fleet.DNSOptions) (*fleet.DNSServer, *dns.Resolver) {
	t.Helper()
	srv, err := fleet.NewDNSServer(opts, zone...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.SetRcode("servfail.test", mdns.RcodeServerFailure)
	srv.SetRcode("servfail.flaky.test", mdns.RcodeServerFailure)
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	return srv, r
}

func targets(ts []discovery.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.MX+"="+t.Address())
	}
	return out
}

func kinds(fs []discovery.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.MX+":"+string(f.Kind))
	}
	return out
}

func TestDomain(t *testing.T) {
	_, r := setup(t, fleet.DNSOptions{})
	v4only := &discovery.Reach{V4: true}
	tests := []struct {
		name      string
		domain    string
		port      int
		opts      discovery.Options
		targets   []string
		notTested []string
		findings  []string
		verdict   audit.Verdict
		why       string // part of the verdict's detail
		implicit  bool
	}{
		{name: "every MX, every address, preference order", domain: "multi.test",
			targets: []string{"mx1.provider.test=127.0.0.10:25", "mx1.provider.test=[::1]:25", "mx2.provider.test=127.0.0.11:25", "backup.multi.test=127.0.0.12:25"}},
		{name: "primary: every MX of the lowest preference", domain: "Multi.Test.", port: 2525, opts: discovery.Options{MX: discovery.PrimaryMX},
			targets: []string{"mx1.provider.test=127.0.0.10:2525", "mx1.provider.test=[::1]:2525", "mx2.provider.test=127.0.0.11:2525"}},
		{name: "IPv4 only", domain: "multi.test", opts: discovery.Options{IP: discovery.V4},
			targets: []string{"mx1.provider.test=127.0.0.10:25", "mx2.provider.test=127.0.0.11:25", "backup.multi.test=127.0.0.12:25"}},
		{name: "IPv6 only", domain: "multi.test", opts: discovery.Options{IP: discovery.V6},
			targets:  []string{"mx1.provider.test=[::1]:25"},
			findings: []string{"mx2.provider.test:mx-no-address", "backup.multi.test:mx-no-address"}},
		{name: "IPv6 not routable from here: not tested, no failure", domain: "far.test", opts: discovery.Options{Reach: v4only},
			targets:   []string{"mx.far.test=127.0.0.13:25"},
			notTested: []string{"mx.far.test=[2001:db8::13]:25"}},
		{name: "only IPv6 and not routable: no verdict", domain: "v6far.test", opts: discovery.Options{Reach: v4only},
			notTested: []string{"v6.v6far.test=[2001:db8::14]:25"}},
		{name: "this machine's own ::1 needs no route", domain: "v6only.test", opts: discovery.Options{Reach: v4only},
			targets: []string{"v6.v6only.test=[::1]:25"}},
		{name: "implicit MX: the domain's own A and AAAA", domain: "implicit.test", implicit: true,
			targets: []string{"implicit.test=127.0.0.20:25", "implicit.test=[::1]:25"}},
		{name: "implicit MX of an alias: no finding", domain: "implicit-alias.test", implicit: true,
			targets: []string{"implicit-alias.test=127.0.0.12:25"}},
		{name: "no MX and no address", domain: "nomail.test", implicit: true,
			findings: []string{":mx-no-address"}, verdict: audit.DNSError, why: "nomail.test has no MX record and no address"},
		{name: "null MX", domain: "null.test", verdict: discovery.NullMX, why: "null MX"},
		{name: "null MX next to another MX is ignored", domain: "nullmixed.test",
			targets:  []string{"mx2.provider.test=127.0.0.11:25"},
			findings: []string{":null-mx-mixed"}},
		{name: "CNAME MX: a finding, still probed", domain: "cname.test",
			targets:  []string{"alias.cname.test=127.0.0.10:25", "alias.cname.test=[::1]:25"},
			findings: []string{"alias.cname.test:mx-cname"}},
		{name: "IP-literal MX: a finding, not probed", domain: "literal.test",
			targets:  []string{"mx2.provider.test=127.0.0.11:25"},
			findings: []string{"192.0.2.1:mx-ip-literal"}},
		{name: "MX that does not resolve: a finding on that MX", domain: "dangling.test",
			targets:  []string{"mx2.provider.test=127.0.0.11:25"},
			findings: []string{"gone.dangling.test:mx-unresolved"}},
		{name: "the only MX does not resolve", domain: "allbad.test",
			findings: []string{"gone.allbad.test:mx-unresolved"}, verdict: audit.DNSError, why: "MX host gone.allbad.test does not resolve: DNS A lookup of gone.allbad.test: NXDOMAIN"},
		{name: "the MX host's lookups fail", domain: "flaky.test",
			findings: []string{"servfail.flaky.test:mx-unresolved"}, verdict: audit.DNSError, why: "SERVFAIL"},
		{name: "more MX hosts than audited", domain: "many.test", opts: discovery.Options{IP: discovery.V4},
			targets: hostsMany(discovery.MaxHosts), findings: []string{":mx-capped"}},
		{name: "NXDOMAIN domain", domain: "nosuch.test", verdict: audit.DNSError, why: "DNS MX lookup of nosuch.test: NXDOMAIN"},
		{name: "SERVFAIL on the MX lookup", domain: "servfail.test", verdict: audit.DNSError, why: "DNS MX lookup of servfail.test: SERVFAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := discovery.Domain(context.Background(), r, tt.domain, tt.port, tt.opts)
			if got := targets(res.Targets); !slices.Equal(got, tt.targets) {
				t.Errorf("targets\n got %q\nwant %q", got, tt.targets)
			}
			if got := targets(res.NotTested); !slices.Equal(got, tt.notTested) {
				t.Errorf("not tested %q, want %q", got, tt.notTested)
			}
			if got := kinds(res.Findings); !slices.Equal(got, tt.findings) {
				t.Errorf("findings %q, want %q (%v)", got, tt.findings, res.Findings)
			}
			v, why := res.Verdict()
			if v != tt.verdict || !strings.Contains(why, tt.why) {
				t.Errorf("verdict %q %q, want %q saying %q", v, why, tt.verdict, tt.why)
			}
			if res.Implicit != tt.implicit || res.NullMX != (tt.verdict == discovery.NullMX) {
				t.Errorf("implicit %v null %v", res.Implicit, res.NullMX)
			}
			for _, tg := range append(res.Targets, res.NotTested...) {
				if tg.Domain != strings.ToLower(strings.TrimSuffix(tt.domain, ".")) || tg.Implicit != tt.implicit || tg.AD {
					t.Errorf("target %+v", tg)
				}
			}
		})
	}
}

func TestDNSErrorsUnwrap(t *testing.T) {
	_, r := setup(t, fleet.DNSOptions{})
	res := discovery.Domain(context.Background(), r, "nosuch.test", 0, discovery.Options{})
	if !errors.Is(res.Err, dns.ErrNXDOMAIN) {
		t.Errorf("Err = %v, want NXDOMAIN", res.Err)
	}
	res = discovery.Domain(context.Background(), r, "dangling.test", 0, discovery.Options{})
	for _, f := range res.Findings {
		var de *dns.Error
		if !errors.As(f.Err, &de) || de.Kind != dns.NXDOMAIN || de.Name != "gone.dangling.test" {
			t.Errorf("finding %+v: want the NXDOMAIN of gone.dangling.test", f)
		}
	}
}

func TestTargetAD(t *testing.T) {
	_, r := setup(t, fleet.DNSOptions{AD: true})
	for _, d := range []string{"multi.test", "implicit.test"} {
		res := discovery.Domain(context.Background(), r, d, 0, discovery.Options{})
		if !res.MXAD || len(res.Targets) == 0 {
			t.Fatalf("%s: MXAD %v, %d targets", d, res.MXAD, len(res.Targets))
		}
		for _, tg := range res.Targets {
			if !tg.AD {
				t.Errorf("%s: target %s not AD", d, tg.Address())
			}
		}
	}
}

func TestNamed(t *testing.T) {
	_, r := setup(t, fleet.DNSOptions{})
	tests := []struct {
		name, host string
		opts       discovery.Options
		targets    []string
		findings   []string
		verdict    audit.Verdict
	}{
		{"a host's addresses", "mx1.provider.test", discovery.Options{}, []string{"mx1.provider.test=127.0.0.10:465", "mx1.provider.test=[::1]:465"}, nil, ""},
		{"IPv4 only", "MX1.provider.test.", discovery.Options{IP: discovery.V4}, []string{"mx1.provider.test=127.0.0.10:465"}, nil, ""},
		{"an alias is no finding for an inventory's host", "alias.cname.test", discovery.Options{IP: discovery.V4}, []string{"alias.cname.test=127.0.0.10:465"}, nil, ""},
		{"an IP address is its own target", "127.0.0.99", discovery.Options{}, []string{"127.0.0.99=127.0.0.99:465"}, nil, ""},
		{"an IPv6 literal of the wrong family", "[IPv6:::1]", discovery.Options{IP: discovery.V4}, nil, []string{"[ipv6:::1]:mx-no-address"}, audit.DNSError},
		{"a host that does not resolve", "gone.provider.test", discovery.Options{}, nil, []string{"gone.provider.test:mx-unresolved"}, audit.DNSError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := discovery.Named(context.Background(), r, "provider.test", tt.host, 465, tt.opts)
			if got := targets(res.Targets); !slices.Equal(got, tt.targets) {
				t.Errorf("targets %q, want %q", got, tt.targets)
			}
			if got := kinds(res.Findings); !slices.Equal(got, tt.findings) {
				t.Errorf("findings %q, want %q", got, tt.findings)
			}
			if v, why := res.Verdict(); v != tt.verdict || strings.Contains(why, "MX") {
				t.Errorf("verdict %q (%s), want %q without speaking of MX", v, why, tt.verdict)
			}
		})
	}
}

func TestMany(t *testing.T) {
	srv, r := setup(t, fleet.DNSOptions{Delay: 5 * time.Millisecond})
	var qs []discovery.Query
	for range 300 {
		qs = append(qs, discovery.Query{Domain: "multi.test"}, discovery.Query{Domain: "cname.test"})
	}
	qs = append(qs, discovery.Query{Domain: "provider.test", Host: "mx2.provider.test", Port: 587})
	res := discovery.Many(context.Background(), r, qs, discovery.Options{}, 50)
	if len(res) != len(qs) {
		t.Fatalf("%d results", len(res))
	}
	for i, q := range qs {
		if res[i].Domain != q.Domain || len(res[i].Targets) == 0 {
			t.Fatalf("result %d: %+v for %+v", i, res[i], q)
		}
	}
	if got := targets(res[len(res)-1].Targets); !slices.Equal(got, []string{"mx2.provider.test=127.0.0.11:587"}) {
		t.Errorf("named host: %q", got)
	}
	// 600 domains sharing one provider: each name and type asked once.
	for _, q := range []struct{ name, qtype string }{
		{"multi.test", "MX"}, {"cname.test", "MX"}, {"mx1.provider.test", "A"}, {"mx1.provider.test", "AAAA"},
		{"mx2.provider.test", "A"}, {"mx2.provider.test", "AAAA"}, {"alias.cname.test", "A"}, {"backup.multi.test", "A"},
	} {
		if n := srv.Queries(q.name, q.qtype); n != 1 {
			t.Errorf("%s/%s asked %d times, want 1", q.name, q.qtype, n)
		}
	}
}

func TestDrift(t *testing.T) {
	_, r := setup(t, fleet.DNSOptions{})
	multi := discovery.Domain(context.Background(), r, "multi.test", 0, discovery.Options{MX: discovery.PrimaryMX})
	implicit := discovery.Domain(context.Background(), r, "implicit.test", 0, discovery.Options{})
	real := []string{"mx1.provider.test", "mx2.provider.test", "backup.multi.test"}
	tests := []struct {
		name   string
		res    *discovery.Result
		host   string
		listed bool
		real   []string
	}{
		{"listed, any case and trailing dot", multi, "MX1.Provider.Test.", true, real},
		{"the backup is listed too under --mx primary", multi, "backup.multi.test", true, real},
		{"moved away", multi, "mail.multi.test", false, real},
		{"implicit MX: the domain itself", implicit, "implicit.test", true, []string{"implicit.test"}},
		{"implicit MX, other host", implicit, "mx.implicit.test", false, []string{"implicit.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listed, got := tt.res.Drift(tt.host)
			if listed != tt.listed || !slices.Equal(got, tt.real) {
				t.Errorf("Drift(%q) = %v %q, want %v %q", tt.host, listed, got, tt.listed, tt.real)
			}
		})
	}
}

func TestProvider(t *testing.T) {
	tests := []struct{ host, want string }{
		{"contoso-example.mail.protection.outlook.com", "outlook.com"},
		{"ASPMX.L.GOOGLE.COM.", "google.com"},
		{"mx1.mail.ovh.net", "ovh.net"},
		{"mx.partner.co.uk", "partner.co.uk"},
		{"mx00.t-online.de", "t-online.de"},
		{"mx.someone.github.io", "someone.github.io"}, // a private suffix of the list
		{"co.uk", "co.uk"},
		{"192.0.2.1", "192.0.2.1"},
		{"[IPv6:2001:db8::1]", "[ipv6:2001:db8::1]"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := discovery.Provider(tt.host); got != tt.want {
				t.Errorf("Provider(%q) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	mx := []struct {
		in   string
		want discovery.MXMode
		err  bool
	}{{"", discovery.AllMX, false}, {"all", discovery.AllMX, false}, {"Primary", discovery.PrimaryMX, false}, {"first", "", true}}
	for _, tt := range mx {
		got, err := discovery.ParseMXMode(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseMXMode(%q) = %q, %v", tt.in, got, err)
		}
	}
	ip := []struct {
		in   string
		want discovery.Family
		err  bool
	}{{"", discovery.Both, false}, {"both", discovery.Both, false}, {"4", discovery.V4, false}, {"ipv6", discovery.V6, false}, {"5", "", true}}
	for _, tt := range ip {
		got, err := discovery.ParseFamily(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseFamily(%q) = %q, %v", tt.in, got, err)
		}
	}
	if _, err := discovery.ParseFamily("5"); err == nil || !strings.Contains(err.Error(), `--ip "5"`) {
		t.Errorf("error %v does not name the flag", err)
	}
}

func ExampleProvider() {
	fmt.Println(discovery.Provider("contoso-example.mail.protection.outlook.com"))
	// Output: outlook.com
}
