package pipeline

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// mtaFleet is a set of partner MX servers on loopback, all on one port (as
// MX hosts are all on 25), a DNS server naming them, and our MTA's
// policy for them in dir: tls_policy (every case of issue 14) and main.cf.
type mtaFleet struct {
	dir     string
	port    int
	dns     *fleet.DNSServer
	servers map[string]*fleet.Server // by MX host
	addrs   map[string]string        // MX host -> IP
	roots   string                   // the audit's (public) roots file
	// want is, per partner domain, the delivery our MTA must decide.
	want map[string]string
}

// listenSame starts a server for each host on its own loopback address,
// all on one port.
func listenSame(t *testing.T, hosts []string, ips []string, bs map[string]fleet.Behavior) (map[string]*fleet.Server, int) {
	t.Helper()
	for attempt := 0; attempt < 20; attempt++ {
		out := map[string]*fleet.Server{}
		port, ok := 0, true
		for i, h := range hosts {
			s, err := fleet.Listen(net.JoinHostPort(ips[i], fmt.Sprint(port)), bs[h])
			if err != nil {
				ok = false
				break
			}
			out[h] = s
			if port == 0 {
				_, p, _ := net.SplitHostPort(s.Addr)
				fmt.Sscan(p, &port)
			}
		}
		if ok {
			return out, port
		}
		for _, s := range out {
			s.Close()
		}
	}
	t.Fatal("no port free on every loopback address")
	return nil, 0
}

// newMTAFleet starts the fleet, its DNS server on dnsAddr ("" for any port
// of 127.0.0.1) and writes the policy files into dir (a directory the
// postfix user can read, for the real-Postfix test).
func newMTAFleet(t *testing.T, dnsAddr, dir string) *mtaFleet {
	t.Helper()
	now := time.Now()
	long := fleet.CertSpec{NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(200 * 24 * time.Hour)}
	spec := func(cn string, names ...string) fleet.CertSpec {
		s := long
		s.CommonName, s.DNSNames = cn, append([]string{cn}, names...)
		return s
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pubSpec, privSpec := long, long
	pubSpec.CommonName, privSpec.CommonName = "Delivery Public Root", "Privco Internal Root"
	pub, err := fleet.NewRoot(pubSpec)
	must(err)
	interSpec := long
	interSpec.CommonName = "Delivery Public Issuing CA"
	inter, err := pub.SubCA(interSpec)
	must(err)
	priv, err := fleet.NewRoot(privSpec)
	must(err)
	privInterSpec := long
	privInterSpec.CommonName = "Privco Mail Issuing CA"
	privInter, err := priv.SubCA(privInterSpec)
	must(err)

	provider, err := inter.Issue(spec("mx.provider.example")) // names only the hosting provider
	must(err)
	privco, err := privInter.Issue(spec("mx.privco.example", "privco.example"))
	must(err)
	self, err := fleet.SelfSigned(spec("mx.selfco.example"))
	must(err)
	oldKey, err := inter.Issue(spec("mx.rotated.example"))
	must(err)
	newKey, err := inter.Issue(spec("mx.rotated.example"))
	must(err)

	hosts := []string{"mx.provider.example", "mx.privco.example", "mx.selfco.example", "mx.rotated.example"}
	ips := []string{"127.77.0.1", "127.77.0.2", "127.77.0.3", "127.77.0.4"}
	servers, port := listenSame(t, hosts, ips, map[string]fleet.Behavior{
		"mx.provider.example": {Cert: provider.TLSCert(inter.Cert), AcceptMail: true},
		"mx.privco.example":   {Cert: privco.TLSCert(privInter.Cert), AcceptMail: true},
		"mx.selfco.example":   {Cert: self.TLSCert(), AcceptMail: true},
		"mx.rotated.example":  {Cert: oldKey.TLSCert(inter.Cert), AcceptMail: true},
	})
	for _, s := range servers {
		t.Cleanup(func() { s.Close() })
	}
	// The partner rotates its key after the admin pinned the old one.
	servers["mx.rotated.example"].Update(func(b *fleet.Behavior) { b.Cert = newKey.TLSCert(inter.Cert) })

	f := &mtaFleet{dir: dir, port: port, servers: servers, addrs: map[string]string{}}
	var records []string
	mx := map[string]string{
		"hostedco.example": "mx.provider.example", "hostedco2.example": "mx.provider.example", "hostedco3.example": "mx.provider.example",
		"privco.example": "mx.privco.example", "privco-sys.example": "mx.privco.example",
		"selfco.example": "mx.selfco.example", "rotated.example": "mx.rotated.example", "pinned.example": "mx.rotated.example",
		"daneco.example": "mx.provider.example", "daneonly.example": "mx.provider.example",
	}
	for d, h := range mx {
		records = append(records, fmt.Sprintf("%s. 300 IN MX 10 %s.", d, h))
	}
	for i, h := range hosts {
		f.addrs[h] = ips[i]
		records = append(records, fmt.Sprintf("%s. 300 IN A %s", h, ips[i]))
	}
	f.dns, err = fleet.NewDNSServer(fleet.DNSOptions{Addr: dnsAddr}, records...)
	must(err)
	t.Cleanup(f.dns.Close)

	f.roots = filepath.Join(f.dir, "roots.pem")
	must(os.WriteFile(f.roots, fleet.PEM(pub.Cert), 0o644))
	ta := filepath.Join(f.dir, "privco-ca.pem")
	must(os.WriteFile(ta, fleet.PEM(privInter.Cert), 0o644))
	fp := func(der []byte) string {
		h := sha256.Sum256(der)
		var parts []string
		for _, b := range h {
			parts = append(parts, fmt.Sprintf("%02X", b))
		}
		return strings.Join(parts, ":")
	}
	policy := fmt.Sprintf(`# Our partners, as smtp_tls_policy_maps reads them (postmap source)
hostedco.example    verify match=hostname
hostedco2.example   secure
hostedco3.example   verify
privco.example      secure tafile=%s
privco-sys.example  secure match=hostname
selfco.example      encrypt
# pinned before the partner rotated its key
rotated.example     fingerprint
    match=%s
pinned.example      fingerprint match=%s
# DANE where the MX answer is not DNSSEC-signed: dane falls back to may, dane-only defers
daneco.example      dane
daneonly.example    dane-only
`, ta, fp(oldKey.Cert.Raw), fp(newKey.Cert.Raw))
	must(os.WriteFile(filepath.Join(f.dir, "tls_policy"), []byte(policy), 0o644))
	mainCF := fmt.Sprintf("compatibility_level = 3.6\nsmtp_dns_support_level = dnssec\nsmtp_tls_security_level = may\nsmtp_tcp_port = %d\nsmtp_tls_policy_maps = hash:%s/tls_policy\nsmtp_tls_CAfile = %s\n", port, f.dir, f.roots)
	must(os.WriteFile(filepath.Join(f.dir, "main.cf"), []byte(mainCF), 0o644))
	f.want = map[string]string{
		"hostedco.example":   audit.Delivers,
		"hostedco2.example":  audit.Deferred,
		"hostedco3.example":  audit.Delivers,
		"privco.example":     audit.Delivers,
		"privco-sys.example": audit.Deferred,
		"selfco.example":     audit.DeliversUnauthenticated,
		"rotated.example":    audit.Deferred,
		"pinned.example":     audit.Delivers,
		"daneco.example":     audit.DeliversUnauthenticated,
		"daneonly.example":   audit.Deferred,
	}
	return f
}

// scanConfig audits the fleet with our MTA's policy map as the inventory.
func (f *mtaFleet) scanConfig(t *testing.T) Config {
	return Config{
		Inventory: filepath.Join(f.dir, "tls_policy"),
		Trust:     trustOptions(f.roots),
		Probe: Options{
			DNS:   resolverFor(t, f.dns, time.Second),
			Probe: probe.Options{HELO: "audit.test", Timeout: 5 * time.Second, ConnectTimeout: time.Second, OneKeyType: true},
		},
		Checks:  Checks{Disabled: true},
		History: History{Disabled: true},
		Logger:  slog.New(slog.DiscardHandler),
	}
}

// TestDeliveryFleet scans real servers on loopback with a Postfix policy map
// as the inventory (main.cf read beside it) and checks what Postfix would
// do for every partner, and the rule it says.
func TestDeliveryFleet(t *testing.T) {
	f := newMTAFleet(t, "", t.TempDir())
	cfg := f.scanConfig(t)
	cfg.Revocation.Offline = true
	secure := mtapolicy.LevelSecure
	cfg.MTA.WhatIfLevel = &secure
	cfg.Hold = true
	res, err := Scan(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*audit.Result{}
	for i := range res.Partners {
		byName[res.Partners[i].Name] = &res.Partners[i]
	}
	rules := map[string]string{
		"hostedco.example":   "the certificate name mx.provider.example matches mx.provider.example (the MX host name from DNS without DNSSEC",
		"hostedco2.example":  "Postfix secure: Server certificate not verified: no name in the certificate matches nexthop:dot-nexthop (hostedco2.example, .hostedco2.example)",
		"hostedco3.example":  "matches mx.provider.example",
		"privco.example":     "tafile=",
		"privco-sys.example": "Server certificate not trusted",
		"selfco.example":     "Postfix encrypt: mandatory TLS encryption",
		"rotated.example":    "Server certificate not verified: neither the sha256 certificate fingerprint",
		"pinned.example":     "certificate fingerprint",
		"daneco.example":     "non DNSSEC destination",
		"daneonly.example":   "Postfix dane-only: non DNSSEC destination",
	}
	for domain, want := range f.want {
		t.Run(domain, func(t *testing.T) {
			r := byName[domain]
			if r == nil {
				t.Fatalf("no result for %s", domain)
			}
			if len(r.Targets) != 1 || r.Targets[0].Delivery == nil {
				t.Fatalf("targets %+v: want one with a delivery", r.Targets)
			}
			d := r.Delivery
			if d == nil || d.Outcome != want {
				t.Fatalf("delivery %+v, want %s", d, want)
			}
			if !strings.Contains(d.Rule, rules[domain]) {
				t.Errorf("rule %q does not say %q", d.Rule, rules[domain])
			}
			if d.MTA != "Postfix" || !strings.HasPrefix(d.Source, cfg.Inventory+":") {
				t.Errorf("decided by %s at %q, want Postfix at a line of %s", d.MTA, d.Source, cfg.Inventory)
			}
		})
	}
	// The private intermediate is trusted by its tafile only: the audit's
	// own verification (system roots) does not trust the chain.
	if v := byName["privco.example"].Verdict; v == audit.Valid {
		t.Errorf("privco.example verdict %s: the audit's roots must not trust the private CA", v)
	}
	// What if every partner were at secure: a verify entry matching the
	// default (hostname) and an encrypt entry stop; an explicit match= is
	// kept, so verify match=hostname goes on; secure ones are unchanged.
	for domain, stops := range map[string]bool{"hostedco3.example": true, "selfco.example": true, "hostedco.example": false, "privco.example": false, "hostedco2.example": false} {
		if got := byName[domain].Delivery.WouldStop(); got != stops {
			t.Errorf("%s: would stop under secure = %v, want %v (%+v)", domain, got, stops, byName[domain].Delivery)
		}
	}
}

// TestDeliveryBounces scans twice with history: a target deferred in the
// first run and still in the second, longer apart than
// maximal_queue_lifetime, has bounced; one that delivers is unchanged.
func TestDeliveryBounces(t *testing.T) {
	f := newMTAFleet(t, "", t.TempDir())
	mc := filepath.Join(f.dir, "main.cf")
	old, err := os.ReadFile(mc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mc, append(old, "maximal_queue_lifetime = 1s\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := f.scanConfig(t)
	cfg.Revocation.Offline = true
	cfg.History = History{Path: filepath.Join(t.TempDir(), "history.db")}
	outcome := func(res *audit.Results, name string) *audit.Delivery {
		for i := range res.Partners {
			if res.Partners[i].Name == name {
				return res.Partners[i].Delivery
			}
		}
		t.Fatalf("no partner %s", name)
		return nil
	}
	cfg.Hold = true
	first, err := Scan(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := outcome(first.Results, "hostedco2.example"); d.Outcome != audit.Deferred {
		t.Fatalf("first run: %+v, want deferred", d)
	}
	time.Sleep(1100 * time.Millisecond)
	cfg.Hold = true
	second, err := Scan(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := outcome(second.Results, "hostedco2.example"); d.Outcome != audit.Bounces || !strings.Contains(d.Rule, "longer than maximal_queue_lifetime (1s)") {
		t.Errorf("second run: %+v, want bounces after maximal_queue_lifetime", d)
	}
	if d := outcome(second.Results, "hostedco.example"); d.Outcome != audit.Delivers {
		t.Errorf("a partner that delivers: %+v", d)
	}
}
