package pipeline

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/dane"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/dnssectest"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/mtasts"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// pubNow is the fixed clock of the published-policies tests.
var pubNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// startPolicyHost starts the fleet's policy server on ip:443 when it may
// (root), else on a free port.
func startPolicyHost(t *testing.T, ip string) *fleet.PolicyServer {
	t.Helper()
	s, err := fleet.StartPolicyServer(ip + ":443")
	if err != nil {
		s, err = fleet.StartPolicyServer(ip + ":0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func typedBody(ct, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ct)
		io.WriteString(w, body)
	}
}

// pubCase is one partner domain of TestPublishedPolicies: its MX host, what
// the MX serves, what the domain publishes, and what the run must say.
type pubCase struct {
	name    string // partner and first label of its domain (<name>.sec.test or <name>.plain.test)
	zone    string // "sec.test" (signed) or "plain.test" (unsigned)
	tlsa    func(leaf, next, root, issuer *x509.Certificate) []dane.Record
	tlsaRR  string // a TLSA owner line instead (a CNAME into the bogus zone)
	private bool   // the MX certificate comes from the partner's private CA
	sendTA  bool   // the server sends its root too
	noTLS   bool
	sts     string           // the _mta-sts TXT record, "" for none
	policy  http.HandlerFunc // the policy host's answer
	stsCert string           // "public" (default), "private": the policy host's CA
	rpt     string           // the _smtp._tls TXT record, "" for none

	verdict  audit.Verdict // the partner's primary verdict
	also     []audit.Verdict
	rt       audit.ResultType // the RFC 8460 result type of verdict, when it has one
	ndr      string           // the Exchange NDR code its detail names
	dnssec   string
	dane     string
	mtaSTS   string
	tlsRPT   string
	finding  string // a finding that must be made (substring)
	noVerdct audit.Verdict
}

const stsPolicy = "version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: 604800\r\n"

// TestPublishedPolicies runs the whole stage through the pipeline against
// real parts: zones signed with real keys (nsd), validated by a real
// unbound, SMTP servers on 127.0.16.x, an HTTPS policy host on 127.0.17.1
// with generated "public" and private PKI, for every DANE and MTA-STS verdict.
func TestPublishedPolicies(t *testing.T) {
	dnssectest.Require(t)
	must := func(is *fleet.Issued, err error) *fleet.Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	day := 24 * time.Hour
	pub, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Test Public Root", NotBefore: pubNow.Add(-3650 * day), NotAfter: pubNow.Add(3650 * day)})
	if err != nil {
		t.Fatal(err)
	}
	pubCA, err := pub.SubCA(fleet.CertSpec{CommonName: "Test Public Issuing CA", NotBefore: pubNow.Add(-365 * day), NotAfter: pubNow.Add(365 * day)})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := fleet.NewRoot(fleet.CertSpec{CommonName: "Partner Private Root", NotBefore: pubNow.Add(-3650 * day), NotAfter: pubNow.Add(3650 * day)})
	if err != nil {
		t.Fatal(err)
	}
	next := must(pubCA.Issue(fleet.CertSpec{CommonName: "next.sec.test", DNSNames: []string{"next.sec.test"}, NotBefore: pubNow.Add(-day), NotAfter: pubNow.Add(90 * day)}))
	ee := func(leaf, _, _, _ *x509.Certificate) []dane.Record {
		return []dane.Record{dane.For(dane.DANEEE, dane.SPKI, dane.SHA2256, leaf)}
	}
	enforce := func(mx string) http.HandlerFunc {
		return typedBody("text/plain", fmt.Sprintf(stsPolicy, "enforce", mx))
	}
	cases := []*pubCase{
		{name: "ee", zone: "sec.test", tlsa: func(leaf, next, _, _ *x509.Certificate) []dane.Record {
			return []dane.Record{dane.For(dane.DANEEE, dane.SPKI, dane.SHA2256, leaf), dane.For(dane.DANEEE, dane.SPKI, dane.SHA2256, next)}
		}, rpt: "v=TLSRPTv1; rua=mailto:tlsrpt@ee.sec.test",
			verdict: audit.Valid, dnssec: audit.DNSSECSecure, dane: "valid", mtaSTS: "absent", tlsRPT: "present"},
		{name: "single", zone: "sec.test", tlsa: ee,
			verdict: audit.Valid, dnssec: audit.DNSSECSecure, dane: "valid", tlsRPT: "absent", finding: "next key is not published"},
		{name: "mismatch", zone: "sec.test", tlsa: func(_, next, _, _ *x509.Certificate) []dane.Record {
			return []dane.Record{dane.For(dane.DANEEE, dane.SPKI, dane.SHA2256, next)}
		},
			// A valid enforce policy that lists the MX: MTA-STS never overrides the failing DANE check.
			sts: "v=STSv1; id=20260601", policy: enforce("*.sec.test"),
			verdict: audit.TlsaMismatch, rt: audit.TLSAInvalid, ndr: "5.7.323", dnssec: audit.DNSSECSecure, dane: "mismatch", mtaSTS: "enforce",
			finding: "senders apply DANE to it"},
		{name: "ta", zone: "sec.test", sendTA: true, tlsa: func(_, _, root, _ *x509.Certificate) []dane.Record {
			return []dane.Record{dane.For(dane.DANETA, dane.SPKI, dane.SHA2256, root)}
		}, verdict: audit.Valid, dane: "valid"},
		{name: "ta-nosend", zone: "sec.test", tlsa: func(_, _, root, _ *x509.Certificate) []dane.Record {
			return []dane.Record{dane.For(dane.DANETA, dane.SPKI, dane.SHA2256, root)}
		}, verdict: audit.TlsaMismatch, rt: audit.TLSAInvalid, dane: "mismatch"},
		{name: "pkix", zone: "sec.test", tlsa: func(leaf, _, root, _ *x509.Certificate) []dane.Record {
			return []dane.Record{dane.For(dane.PKIXTA, dane.SPKI, dane.SHA2256, root), dane.For(dane.PKIXEE, dane.SPKI, dane.SHA2256, leaf)}
		}, verdict: audit.Valid, dane: "unusable", finding: "unusable for SMTP"},
		{name: "notls", zone: "sec.test", noTLS: true, tlsa: ee,
			verdict: audit.NoStartTLS, also: []audit.Verdict{audit.DaneRequiredNoTLS}, rt: audit.StartTLSNotSupported, ndr: "5.7.321", dane: "no-tls"},
		{name: "bogus", zone: "sec.test", tlsaRR: "IN CNAME _25._tcp.mx.stale.test.",
			verdict: audit.DnssecBogus, rt: audit.DNSSECInvalid, ndr: "5.7.324", dnssec: audit.DNSSECBogus, dane: "bogus"},
		{name: "unsigned", zone: "plain.test", tlsa: func(_, next, _, _ *x509.Certificate) []dane.Record {
			return []dane.Record{dane.For(dane.DANEEE, dane.SPKI, dane.SHA2256, next)}
		}, verdict: audit.Valid, dnssec: audit.DNSSECInsecure, dane: "insecure", noVerdct: audit.TlsaMismatch},

		{name: "sts-ok", zone: "plain.test", sts: "v=STSv1; id=1", policy: enforce("*.sts-ok.plain.test"),
			verdict: audit.Valid, mtaSTS: "enforce", dane: "insecure"},
		{name: "sts-unlisted", zone: "plain.test", sts: "v=STSv1; id=1", policy: enforce("mail.elsewhere.test"),
			verdict: audit.StsMxMismatch, rt: audit.ValidationFailure, ndr: "5.4.8", mtaSTS: "enforce"},
		{name: "sts-private", zone: "plain.test", private: true, sts: "v=STSv1; id=1", policy: enforce("mx.sts-private.plain.test"),
			verdict: audit.StsCertificateNotTrusted, rt: audit.CertificateNotTrusted, ndr: "5.4.8", mtaSTS: "enforce"},
		{name: "sts-testing", zone: "plain.test", private: true, sts: "v=STSv1; id=1",
			policy:  typedBody("text/plain", fmt.Sprintf(stsPolicy, "testing", "mx.sts-testing.plain.test")),
			verdict: audit.Valid, mtaSTS: "testing", finding: "testing mode", noVerdct: audit.StsCertificateNotTrusted},
		{name: "sts-redirect", zone: "plain.test", sts: "v=STSv1; id=1",
			policy: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://elsewhere.test/.well-known/mta-sts.txt", http.StatusFound)
			}, verdict: audit.StsPolicyFetchError, rt: audit.STSPolicyFetchError, mtaSTS: "failed"},
		{name: "sts-html", zone: "plain.test", sts: "v=STSv1; id=1",
			policy:  typedBody("text/html", fmt.Sprintf(stsPolicy, "enforce", "*.sts-html.plain.test")),
			verdict: audit.StsPolicyInvalid, rt: audit.STSPolicyInvalid, mtaSTS: "failed"},
		{name: "sts-huge", zone: "plain.test", sts: "v=STSv1; id=1",
			policy:  typedBody("text/plain", fmt.Sprintf(stsPolicy, "enforce", "*.sts-huge.plain.test")+strings.Repeat("x: y\r\n", 20000)),
			verdict: audit.StsPolicyFetchError, rt: audit.STSPolicyFetchError, mtaSTS: "failed"},
		{name: "sts-webpki", zone: "plain.test", sts: "v=STSv1; id=1", stsCert: "private", policy: enforce("*.sts-webpki.plain.test"),
			verdict: audit.StsWebPkiInvalid, rt: audit.STSWebPKIInvalid, mtaSTS: "failed"},
		{name: "rpt-bad", zone: "plain.test", rpt: "v=TLSRPTv1; rua=ftp://reports.example",
			verdict: audit.Valid, tlsRPT: "invalid", finding: "TLS-RPT record is invalid"},
	}

	const policyIP = "127.0.17.1"
	ph := startPolicyHost(t, policyIP)
	zones := map[string]*dnssectest.Zone{
		"sec.test":   {Origin: "sec.test", Signing: dnssectest.Signed},
		"plain.test": {Origin: "plain.test", Signing: dnssectest.Unsigned},
		"stale.test": {Origin: "stale.test", Signing: dnssectest.Expired, Records: []string{"mx IN A 127.0.16.250"}},
	}
	var rows []audit.Partner
	port := 0
	for i, c := range cases {
		ip := fmt.Sprintf("127.0.16.%d", i+1)
		domain := c.name + "." + c.zone
		mx := "mx." + domain
		ca := pubCA
		if c.private {
			ca = priv
		}
		leaf := must(ca.Issue(fleet.CertSpec{CommonName: mx, DNSNames: []string{mx}, NotBefore: pubNow.Add(-day), NotAfter: pubNow.Add(90 * day)}))
		chain := []*x509.Certificate{}
		if !c.private {
			chain = append(chain, pubCA.Cert)
		}
		if c.sendTA {
			chain = append(chain, pub.Cert)
		}
		addr := ip + ":" + strconv.Itoa(port)
		srv, err := fleet.Listen(addr, fleet.Behavior{Name: mx, Cert: leaf.TLSCert(chain...), NoStartTLS: c.noTLS})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		if port == 0 { // one port for every server, so one TLSA owner name per MX
			_, p, _ := net.SplitHostPort(srv.Addr)
			port, _ = strconv.Atoi(p)
		}
		z := zones[c.zone]
		label := c.name
		z.Records = append(z.Records, label+" IN MX 10 mx."+label, "mx."+label+" IN A "+ip)
		owner := fmt.Sprintf("_%d._tcp.mx.%s", port, label)
		if c.tlsa != nil {
			for _, r := range c.tlsa(leaf.Cert, next.Cert, pub.Cert, pubCA.Cert) {
				z.Records = append(z.Records, owner+" IN TLSA "+r.String())
			}
		}
		if c.tlsaRR != "" {
			z.Records = append(z.Records, owner+" "+strings.Replace(c.tlsaRR, "_25.", fmt.Sprintf("_%d.", port), 1))
			zones["stale.test"].Records = append(zones["stale.test"].Records,
				fmt.Sprintf("_%d._tcp.mx IN TLSA %s", port, dane.For(dane.DANEEE, dane.SPKI, dane.SHA2256, leaf.Cert)))
		}
		if c.sts != "" {
			z.Records = append(z.Records, fmt.Sprintf("_mta-sts.%s IN TXT %q", label, c.sts), "mta-sts."+label+" IN A "+policyIP)
			stsCA, stsChain := pubCA, []*x509.Certificate{pubCA.Cert}
			if c.stsCert == "private" {
				stsCA, stsChain = priv, nil
			}
			host := mtasts.PolicyHost(domain)
			ph.Handle(domain, must(stsCA.Issue(fleet.CertSpec{CommonName: host, DNSNames: []string{host}, NotBefore: pubNow.Add(-day), NotAfter: pubNow.Add(90 * day)})).TLSCert(stsChain...), c.policy)
		}
		if c.rpt != "" {
			z.Records = append(z.Records, fmt.Sprintf("_smtp._tls.%s IN TXT %q", label, c.rpt))
		}
		rows = append(rows, audit.Partner{Line: i + 2, Name: c.name, Domain: domain, Port: port, TLS: audit.StartTLS})
	}
	r := dnssectest.Start(t, *zones["sec.test"], *zones["plain.test"], *zones["stale.test"])
	resolver, err := dns.New(dns.Config{Servers: []string{r.Addr}, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool() // what our own Exchange trusts: the public root and the imported private one
	roots.AddCert(pub.Cert)
	roots.AddCert(priv.Cert)
	public := x509.NewCertPool()
	public.AddCert(pub.Cert)
	_, httpsPortText, _ := net.SplitHostPort(ph.Addr)
	httpsPort, _ := strconv.Atoi(httpsPortText)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := ProbeAll(ctx, rows, Options{DNS: resolver, Roots: roots, Now: pubNow,
		Probe:     probe.Options{HELO: "mxaudit.test", Timeout: 10 * time.Second},
		Published: Published{DNSSECTrusted: true, Roots: public, HTTPSPort: httpsPort, FetchTimeout: 5 * time.Second}})

	for i, c := range cases {
		p := res.Partners[i]
		t.Run(c.name, func(t *testing.T) {
			if p.Verdict != c.verdict {
				t.Fatalf("verdict %s %v (%v), want %s", p.Verdict, p.Verdicts, p.Details, c.verdict)
			}
			for _, v := range c.also {
				if !p.Has(v) {
					t.Errorf("verdicts %v lack %s", p.Verdicts, v)
				}
			}
			if c.noVerdct != "" && p.Has(c.noVerdct) {
				t.Errorf("verdicts %v have %s", p.Verdicts, c.noVerdct)
			}
			if c.rt != "" && p.ResultTypes[c.verdict] != c.rt {
				t.Errorf("result type of %s = %q, want %q", c.verdict, p.ResultTypes[c.verdict], c.rt)
			}
			if c.ndr != "" && !strings.Contains(p.Details[c.verdict], c.ndr) {
				t.Errorf("detail %q does not name NDR %s", p.Details[c.verdict], c.ndr)
			}
			if len(p.Targets) != 1 || p.Targets[0].Policies == nil || p.Policies == nil {
				t.Fatalf("targets %d, policies missing: %+v", len(p.Targets), p.Policies)
			}
			f := p.Targets[0].Policies
			for _, want := range []struct{ field, got, want string }{
				{"dnssec", f.DNSSEC, c.dnssec}, {"dane", f.DANE, c.dane}, {"mta_sts", f.MTASTS, c.mtaSTS}, {"tls_rpt", f.TLSRPT, c.tlsRPT},
			} {
				if want.want != "" && want.got != want.want {
					t.Errorf("policies.%s = %q, want %q (%+v)", want.field, want.got, want.want, f)
				}
			}
			if c.finding != "" && !slices.ContainsFunc(p.Findings, func(fd audit.Finding) bool { return strings.Contains(fd.Message, c.finding) }) {
				t.Errorf("no finding says %q: %+v", c.finding, p.Findings)
			}
		})
	}
	// One fetch per domain, whatever the number of targets.
	for host, n := range ph.FetchesOf() {
		if n != 1 {
			t.Errorf("%s fetched %d times, want 1", host, n)
		}
	}
}

func TestDNSSECTrustedByDefault(t *testing.T) {
	tests := []struct {
		name    string
		servers []string
		want    bool
	}{
		{"local unbound", []string{"127.0.0.1:53"}, true},
		{"ipv6 loopback", []string{"[::1]:53"}, true},
		{"127/8", []string{"127.0.0.53:53"}, true},
		{"remote", []string{"192.0.2.1:53"}, false},
		{"one remote among local", []string{"127.0.0.1:53", "192.0.2.1:53"}, false},
		{"none", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DNSSECTrustedByDefault(tc.servers); got != tc.want {
				t.Errorf("DNSSECTrustedByDefault(%v) = %v, want %v", tc.servers, got, tc.want)
			}
		})
	}
}

// TestPolicyFleet audits the fleet's policy partners (the demo's): one per
// verdict of the published policies, through the fleet's DNS server on
// 127.0.0.1 (which plays a trusted validating resolver for its signed zone)
// and its MTA-STS policy host on a loopback address.
func TestPolicyFleet(t *testing.T) {
	f, srv, tr := startDNSFleet(t, fleet.Options{Policies: true})
	_, port, _ := net.SplitHostPort(f.Policies.Addr)
	httpsPort, _ := strconv.Atoi(port)
	public := x509.NewCertPool()
	public.AddCert(f.PublicRoot.Cert)
	var rows []audit.Partner
	for _, sc := range f.Scenarios {
		if sc.Domain != nil {
			rows = append(rows, sc.Partner)
		}
	}
	res := ProbeAll(context.Background(), rows, Options{
		DNS:   resolverFor(t, srv, time.Second),
		Probe: probe.Options{HELO: "audit.test", Timeout: 3 * time.Second, ConnectTimeout: time.Second, OneKeyType: true},
		Roots: tr.Pool, StoreOf: tr.StoreOf, PrivateRoots: tr.PrivateRoots(f.Now), Now: f.Now,
		Published: Published{DNSSECTrusted: DNSSECTrustedByDefault([]string{srv.Addr}), Roots: public, HTTPSPort: httpsPort},
	})
	byName := map[string]*audit.Result{}
	for i := range res.Partners {
		byName[res.Partners[i].Name] = &res.Partners[i]
	}
	seen := map[audit.Verdict]bool{}
	for _, sc := range f.Scenarios {
		r := byName[sc.Partner.Name]
		if r == nil {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			if !slices.Equal(r.Verdicts, sc.Expect) {
				t.Errorf("verdicts %v, want %v (details %v)", r.Verdicts, sc.Expect, r.Details)
			}
			if r.Policies == nil {
				t.Fatal("no policies")
			}
		})
		for _, v := range r.Verdicts {
			seen[v] = true
		}
	}
	for _, v := range audit.PolicyVerdicts {
		if !seen[v] {
			t.Errorf("no policy partner of the fleet has %s", v)
		}
	}
	if r := byName["DANE Valid AG"]; r != nil && (r.Policies.DANE != "valid" || r.Policies.DNSSEC != audit.DNSSECSecure || r.Policies.MTASTS != "enforce" || r.Policies.TLSRPT != "present") {
		t.Errorf("DANE Valid AG: policies %+v", r.Policies)
	}
}
