package dnssectest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestResolver(t *testing.T) {
	r := Start(t,
		Zone{Origin: "secure.test", Signing: Signed, Records: []string{"mx IN A 127.0.0.1"}},
		Zone{Origin: "plain.test", Signing: Unsigned, Records: []string{"mx IN A 127.0.0.2"}},
		Zone{Origin: "stale.test", Signing: Expired, Records: []string{"mx IN A 127.0.0.3"}},
	)
	tests := []struct {
		name   string
		qname  string
		rcode  int
		ad     bool
		answer string
		ede    string
	}{
		{"signed zone is secure", "mx.secure.test", dns.RcodeSuccess, true, "127.0.0.1", ""},
		{"signed zone denies securely", "nothing.secure.test", dns.RcodeNameError, true, "", ""},
		{"unsigned zone is insecure", "mx.plain.test", dns.RcodeSuccess, false, "127.0.0.2", ""},
		{"expired signatures are bogus", "mx.stale.test", dns.RcodeServerFailure, false, "", "Signature Expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := r.Query(tc.qname, dns.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != tc.rcode || m.AuthenticatedData != tc.ad {
				t.Fatalf("%s: rcode %s AD %v, want %s AD %v\n%v", tc.qname, dns.RcodeToString[m.Rcode], m.AuthenticatedData, dns.RcodeToString[tc.rcode], tc.ad, m)
			}
			var got []string
			for _, rr := range m.Answer {
				if a, ok := rr.(*dns.A); ok {
					got = append(got, a.A.String())
				}
			}
			if strings.Join(got, ",") != tc.answer {
				t.Errorf("answer %v, want %q", got, tc.answer)
			}
			if ede := EDE(m); !strings.Contains(ede, tc.ede) {
				t.Errorf("EDE %q, want %q", ede, tc.ede)
			}
		})
	}
}

// recorder stands in for a test to see whether Require skips or fails it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()           {}
func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

func TestRequire(t *testing.T) {
	defer func(old string) { Unbound = old }(Unbound)
	Unbound = "/nonexistent/unbound"
	tests := []struct {
		name, ci    string
		fatal, skip bool
	}{
		{"skips outside CI", "", false, true},
		{"fails under CI=true", "true", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recorder{TB: t}
			Require(r)
			if (r.fatal != "") != tc.fatal || (r.skip != "") != tc.skip {
				t.Fatalf("fatal %q skip %q", r.fatal, r.skip)
			}
			if msg := r.fatal + r.skip; !strings.Contains(msg, "/nonexistent/unbound not found") || !strings.Contains(msg, "ldnsutils") {
				t.Errorf("message %q does not say what is missing", msg)
			}
		})
	}
}
