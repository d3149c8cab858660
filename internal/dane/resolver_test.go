package dane

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/audit"
	mxdns "github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/dnssectest"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// TestThroughValidatingResolver runs the whole DANE decision against real
// parts: TLSA and address records in zones signed with real keys, served by
// nsd, validated by unbound, and certificates presented by SMTP servers on
// 127.0.13.x, read by the prober over STARTTLS.
func TestThroughValidatingResolver(t *testing.T) {
	dnssectest.Require(t)
	p := newPKI(t)
	must := func(is *fleet.Issued, err error) *fleet.Issued {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	leafFor := func(host string) *fleet.Issued {
		return must(p.issuer.Issue(fleet.CertSpec{CommonName: host, DNSNames: []string{host}, NotBefore: now.Add(-day), NotAfter: now.Add(90 * day)}))
	}
	tlsa := func(owner string, rs ...Record) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s IN TLSA %s", owner, r))
		}
		return out
	}

	type host struct {
		name      string // fully qualified, without the trailing dot
		ip        string
		leaf      *fleet.Issued
		sendRoot  bool
		noTLS     bool
		status    Status
		verdict   audit.Verdict
		detail    string
		tlsaAD    bool // the TLSA answer must carry AD (checked when records are expected)
		wantTLSA  int  // records the resolver must return
		hostBogus bool
	}
	hosts := []*host{
		{name: "mx-ee.dane.test", status: Valid, tlsaAD: true, wantTLSA: 2},
		{name: "mx-bad.dane.test", status: Mismatch, verdict: audit.TlsaMismatch, tlsaAD: true, wantTLSA: 1, detail: "would match 3 1 1"},
		{name: "mx-ta.dane.test", sendRoot: true, status: Valid, tlsaAD: true, wantTLSA: 1, detail: "DANE Test Root"},
		{name: "mx-ta-nosend.dane.test", status: Mismatch, verdict: audit.TlsaMismatch, tlsaAD: true, wantTLSA: 1},
		{name: "mx-pkix.dane.test", status: Unusable, tlsaAD: true, wantTLSA: 2},
		{name: "mx-notls.dane.test", noTLS: true, status: NoTLS, verdict: audit.DaneRequiredNoTLS, tlsaAD: true, wantTLSA: 1, detail: "STARTTLS"},
		{name: "mx-none.dane.test", status: None},
		{name: "mx-cname-stale.dane.test", status: Bogus, verdict: audit.DnssecBogus, detail: "Signature Expired"},
		{name: "mx-cname-plain.dane.test", status: Insecure, wantTLSA: 1, detail: "not DNSSEC-validated"},
		{name: "mx.plain.test", status: Insecure, wantTLSA: 1, detail: "address records of mx.plain.test are not DNSSEC-validated"},
		{name: "mx.stale.test", status: Bogus, verdict: audit.DnssecBogus, hostBogus: true, detail: "Signature Expired"},
	}
	zones := map[string]*dnssectest.Zone{
		"dane.test":  {Origin: "dane.test", Signing: dnssectest.Signed},
		"plain.test": {Origin: "plain.test", Signing: dnssectest.Unsigned},
		"stale.test": {Origin: "stale.test", Signing: dnssectest.Expired},
	}
	next := leafFor("next.dane.test")
	for i, h := range hosts {
		h.ip = fmt.Sprintf("127.0.13.%d", i+1)
		h.leaf = leafFor(h.name)
		label, origin, _ := strings.Cut(h.name, ".")
		z := zones[origin]
		z.Records = append(z.Records, fmt.Sprintf("%s IN A %s", label, h.ip))
		owner := "_25._tcp." + label
		ee := For(DANEEE, SPKI, SHA2256, h.leaf.Cert)
		switch label {
		case "mx-ee":
			z.Records = append(z.Records, tlsa(owner, ee, For(DANEEE, SPKI, SHA2256, next.Cert))...)
		case "mx-bad":
			z.Records = append(z.Records, tlsa(owner, For(DANEEE, SPKI, SHA2256, next.Cert))...)
		case "mx-ta", "mx-ta-nosend":
			z.Records = append(z.Records, tlsa(owner, For(DANETA, SPKI, SHA2256, p.root.Cert))...)
		case "mx-pkix":
			z.Records = append(z.Records, tlsa(owner, For(PKIXTA, SPKI, SHA2256, p.root.Cert), For(PKIXEE, SPKI, SHA2256, h.leaf.Cert))...)
		case "mx-notls":
			z.Records = append(z.Records, tlsa(owner, ee)...)
		case "mx-cname-stale":
			z.Records = append(z.Records, owner+" IN CNAME _25._tcp.mx.stale.test.")
		case "mx-cname-plain":
			z.Records = append(z.Records, owner+" IN CNAME _25._tcp.mx.plain.test.")
		case "mx":
			// mx.plain.test and mx.stale.test: a record that would not match anyway.
			z.Records = append(z.Records, tlsa(owner, For(DANEEE, SPKI, SHA2256, next.Cert))...)
		}
	}
	r := dnssectest.Start(t, *zones["dane.test"], *zones["plain.test"], *zones["stale.test"])

	for _, h := range hosts {
		t.Run(h.name, func(t *testing.T) {
			chain := []*x509.Certificate{p.issuer.Cert}
			if h.sendRoot {
				chain = append(chain, p.root.Cert)
			}
			srv, err := fleet.Listen(h.ip+":0", fleet.Behavior{Name: h.name, Cert: h.leaf.TLSCert(chain...), NoStartTLS: h.noTLS})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			_, port, _ := net.SplitHostPort(srv.Addr)

			// What a DANE sender does (RFC 7672 section 2.2): the address
			// records first, TLSA only when they are secure.
			in := Input{Host: h.name, Domain: "example.org", Now: now}
			a, err := r.Query(h.name, dns.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if why, bogus := mxdns.ValidationFailure(a); bogus {
				in.Lookup.HostBogus = why
			}
			if h.hostBogus != (in.Lookup.HostBogus != "") {
				t.Fatalf("address lookup: bogus %q, want bogus %v (%v)", in.Lookup.HostBogus, h.hostBogus, a)
			}
			hostSecure := a.Rcode == dns.RcodeSuccess && a.AuthenticatedData
			var ip string
			for _, rr := range a.Answer {
				if rec, ok := rr.(*dns.A); ok {
					ip = rec.A.String()
				}
			}
			if !h.hostBogus && ip != h.ip {
				t.Fatalf("A %s = %q, want %s", h.name, ip, h.ip)
			}
			m, err := r.Query(Name(h.name, 25), dns.TypeTLSA)
			in.Lookup = withHost(FromMsg(hostSecure, m, err), in.Lookup.HostBogus)
			if len(in.Lookup.Records) != h.wantTLSA {
				t.Fatalf("TLSA answer has %d records, want %d: %v", len(in.Lookup.Records), h.wantTLSA, m)
			}
			if h.wantTLSA > 0 && in.Lookup.Secure != h.tlsaAD {
				t.Fatalf("TLSA AD = %v, want %v", in.Lookup.Secure, h.tlsaAD)
			}
			if ip != "" {
				p, _ := strconv.Atoi(port)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				obs := probe.Probe(ctx, audit.Target{Host: h.name, Port: p, TLS: audit.StartTLS}, net.JoinHostPort(ip, port), probe.Options{HELO: "mxaudit.test", Timeout: 10 * time.Second})
				if len(obs.Chain) > 0 {
					in.TLS = true
					in.Chains = [][]*x509.Certificate{obs.Chain}
				} else if obs.Err != nil {
					in.TLSError = obs.Err.Error()
				}
				if in.TLS == h.noTLS {
					t.Fatalf("probe: TLS %v, error %v", in.TLS, obs.Err)
				}
			}
			got := Evaluate(in)
			if got.Status != h.status || got.Verdict != h.verdict {
				t.Fatalf("Evaluate = %s/%q (%s), want %s/%q", got.Status, got.Verdict, got.Detail, h.status, h.verdict)
			}
			if !strings.Contains(got.Detail, h.detail) {
				t.Errorf("detail %q does not say %q", got.Detail, h.detail)
			}
		})
	}
}

func withHost(l Lookup, hostBogus string) Lookup {
	l.HostBogus = hostBogus
	return l
}
