package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/dnssectest"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// TestBogusMXHost: an MX (or a named host) whose own lookup fails DNSSEC
// validation at a real validating resolver (unbound, a zone signed with
// expired signatures) makes DnssecBogus naming the extended DNS error when
// the resolver is trusted for DNSSEC, DNSError when it is not; a plain
// SERVFAIL without extended error (the fleet DNS server) stays DNSError.
func TestBogusMXHost(t *testing.T) {
	dnssectest.Require(t)
	v := dnssectest.Start(t,
		dnssectest.Zone{Origin: "mail.test", Signing: dnssectest.Signed, Records: []string{
			"bogus-mx IN MX 10 mx.stale.test.",
			"two-bogus IN MX 10 mx.stale.test.",
			"two-bogus IN MX 20 mx2.stale.test.",
		}},
		dnssectest.Zone{Origin: "stale.test", Signing: dnssectest.Expired, Records: []string{
			"@ IN MX 10 mx",
			"mx IN A 127.0.18.1",
			"mx2 IN A 127.0.18.2",
		}},
	)
	validating, err := dns.New(dns.Config{Servers: []string{v.Addr}, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := fleet.NewDNSServer(fleet.DNSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetRcode("servfail.example", mdns.RcodeServerFailure)
	failing, err := dns.New(dns.Config{Servers: []string{plain.Addr}, Timeout: time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		row     audit.Partner
		dns     *dns.Resolver
		trusted bool
		verdict audit.Verdict
		detail  []string // what the verdict's details must name
	}{
		{"MX host in a bogus zone", audit.Partner{Domain: "bogus-mx.mail.test"}, validating, true,
			audit.DnssecBogus, []string{"mx.stale.test", "DNSSEC validation failed", "Signature Expired"}},
		{"every MX host in a bogus zone", audit.Partner{Domain: "two-bogus.mail.test"}, validating, true,
			audit.DnssecBogus, []string{"mx.stale.test", "mx2.stale.test", "Signature Expired"}},
		{"MX lookup in a bogus zone", audit.Partner{Domain: "stale.test"}, validating, true,
			audit.DnssecBogus, []string{"MX lookup of stale.test", "Signature Expired"}},
		{"named host in a bogus zone", audit.Partner{Host: "mx.stale.test"}, validating, true,
			audit.DnssecBogus, []string{"mx.stale.test", "Signature Expired"}},
		{"resolver not trusted for DNSSEC", audit.Partner{Domain: "bogus-mx.mail.test"}, validating, false,
			audit.DNSError, []string{"mx.stale.test", "Signature Expired"}},
		{"SERVFAIL without extended error", audit.Partner{Domain: "servfail.example"}, failing, true,
			audit.DNSError, []string{"servfail.example", "SERVFAIL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := tt.row
			row.Name, row.Line, row.Port, row.TLS = "partner", 2, 25, audit.StartTLS
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res := ProbeAll(ctx, []audit.Partner{row}, Options{DNS: tt.dns, Now: pubNow,
				Probe:     probe.Options{HELO: "mxaudit.test", Timeout: 5 * time.Second},
				Published: Published{DNSSECTrusted: tt.trusted, FetchTimeout: 2 * time.Second}})
			p := res.Partners[0]
			if p.Verdict != tt.verdict || len(p.Targets) != 0 {
				t.Fatalf("verdict %s %v (%v), %d targets; want %s and none", p.Verdict, p.Verdicts, p.Details, len(p.Targets), tt.verdict)
			}
			for _, want := range tt.detail {
				if !strings.Contains(p.Details[tt.verdict], want) {
					t.Errorf("details %q do not name %q", p.Details[tt.verdict], want)
				}
			}
			if tt.verdict == audit.DnssecBogus && p.ResultTypes[audit.DnssecBogus] != audit.DNSSECInvalid {
				t.Errorf("result type %q, want %q (%v)", p.ResultTypes[audit.DnssecBogus], audit.DNSSECInvalid, p.ResultTypes)
			}
			if tt.verdict != audit.DnssecBogus && p.Has(audit.DnssecBogus) {
				t.Errorf("verdicts %v have DnssecBogus", p.Verdicts)
			}
		})
	}
}
