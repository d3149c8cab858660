package dns_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/dnssectest"
)

// validator starts unbound in front of nsd with a signed, an unsigned and a
// bogus zone (internal/dnssectest: skips without the tools, except under CI).
func validator(t *testing.T) *dnssectest.Resolver {
	t.Helper()
	dnssectest.Require(t)
	mail := func(zone string) []string {
		return []string{
			zone + ". IN MX 10 mx." + zone + ".",
			"mx." + zone + ". IN A 127.0.0.30",
			"mx." + zone + ". IN AAAA ::1",
			"_25._tcp.mx." + zone + ". IN TLSA 3 1 1 0d6fce3317eca0d3bbd5e4e0a5e4f5daf7a0c56e3c1b4aa4a0b43a5f8a7d7e01",
			"_mta-sts." + zone + ". IN TXT \"v=STSv1; id=20261127\"",
		}
	}
	return dnssectest.Start(t,
		dnssectest.Zone{Origin: "sec.test", Records: mail("sec.test"), Signing: dnssectest.Signed},
		dnssectest.Zone{Origin: "plain.test", Records: mail("plain.test")},
		dnssectest.Zone{Origin: "bogus.test", Records: mail("bogus.test"), Signing: dnssectest.Expired},
	)
}

// The AD bit of a real validating resolver is kept for each answer.
func TestADFromValidatingResolver(t *testing.T) {
	v := validator(t)
	r, err := dns.New(dns.Config{Servers: []string{v.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, qname string
		qtype       uint16
		ad          bool
		kind        dns.Kind
		records     int
		validation  string // what Error.Validation must hold ("" = empty)
	}{
		{"signed MX", "sec.test", dns.TypeMX, true, "", 1, ""},
		{"signed A", "mx.sec.test", dns.TypeA, true, "", 1, ""},
		{"signed AAAA", "mx.sec.test", dns.TypeAAAA, true, "", 1, ""},
		{"signed TLSA", dns.TLSAName("mx.sec.test", 25), dns.TypeTLSA, true, "", 1, ""},
		{"signed TXT", "_mta-sts.sec.test", dns.TypeTXT, true, "", 1, ""},
		{"signed NODATA", "mx.sec.test", dns.TypeTLSA, true, "", 0, ""},
		{"signed NXDOMAIN", "nowhere.sec.test", dns.TypeA, true, dns.NXDOMAIN, 0, ""},
		{"unsigned NXDOMAIN", "nowhere.plain.test", dns.TypeA, false, dns.NXDOMAIN, 0, ""},
		{"unsigned MX", "plain.test", dns.TypeMX, false, "", 1, ""},
		{"unsigned TLSA", dns.TLSAName("mx.plain.test", 25), dns.TypeTLSA, false, "", 1, ""},
		{"bogus MX: SERVFAIL", "bogus.test", dns.TypeMX, false, dns.SERVFAIL, 0, "Signature Expired"},
		{"bogus TLSA: SERVFAIL", dns.TLSAName("mx.bogus.test", 25), dns.TypeTLSA, false, dns.SERVFAIL, 0, "Signature Expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := r.Lookup(context.Background(), tt.qname, tt.qtype)
			if tt.kind != "" {
				var de *dns.Error
				if !errors.As(err, &de) || de.Kind != tt.kind || de.AD != tt.ad {
					t.Fatalf("err = %v (AD %v), want kind %q with AD %v", err, de != nil && de.AD, tt.kind, tt.ad)
				}
				if (tt.validation == "") != (de.Validation == "") || !strings.Contains(de.Validation, tt.validation) ||
					!strings.Contains(err.Error(), tt.validation) {
					t.Errorf("Validation %q (%v), want %q", de.Validation, err, tt.validation)
				}
				if why, bogus := dns.Bogus(err); bogus != (tt.validation != "") || why != de.Validation {
					t.Errorf("Bogus = %q, %v", why, bogus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.AD != tt.ad || len(a.Records) != tt.records {
				t.Errorf("AD %v with %d records, want %v with %d", a.AD, len(a.Records), tt.ad, tt.records)
			}
		})
	}
	t.Run("discovery targets carry AD", func(t *testing.T) {
		for _, d := range []struct {
			domain string
			ad     bool
		}{{"sec.test", true}, {"plain.test", false}} {
			res := discovery.Domain(context.Background(), r, d.domain, 0, discovery.Options{})
			var got []string
			for _, tg := range res.Targets {
				got = append(got, tg.Address())
				if tg.AD != d.ad {
					t.Errorf("%s: target %s AD %v, want %v", d.domain, tg.Address(), tg.AD, d.ad)
				}
			}
			if !slices.Equal(got, []string{"127.0.0.30:25", "[::1]:25"}) {
				t.Errorf("%s: targets %v", d.domain, got)
			}
		}
		for _, trusted := range []bool{false, true} {
			res := discovery.Domain(context.Background(), r, "bogus.test", 0, discovery.Options{DNSSECTrusted: trusted})
			if !errors.Is(res.Err, dns.ErrSERVFAIL) {
				t.Errorf("bogus.test: Err = %v, want SERVFAIL", res.Err)
			}
			want := audit.DNSError
			if trusted {
				want = audit.DnssecBogus
			}
			if v, why := res.Verdict(); v != want || !strings.Contains(why, "Signature Expired") {
				t.Errorf("bogus.test (trusted %v): verdict %s %q, want %s naming the EDE", trusted, v, why, want)
			}
		}
	})
}
