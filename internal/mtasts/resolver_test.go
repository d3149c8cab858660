package mtasts

import (
	"context"
	"testing"

	"github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/internal/dnssectest"
	"github.com/mxaudit/mxaudit/internal/tlsrpt"
)

// TestRecordsThroughResolver reads the _mta-sts and _smtp._tls records, split
// into several strings as big TXT records are, through a real resolver.
func TestRecordsThroughResolver(t *testing.T) {
	r := dnssectest.Start(t, dnssectest.Zone{Origin: "policy.test", Signing: dnssectest.Signed, Records: []string{
		`_mta-sts IN TXT "v=STSv1; " "id=20260601T1200"`,
		`_mta-sts IN TXT "v=spf1 -all"`,
		`_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:" "tls-reports@policy.test,https://r.policy.test/v1"`,
		`_mta-sts.twice IN TXT "v=STSv1; id=1"`,
		`_mta-sts.twice IN TXT "v=STSv1; id=2"`,
	}})
	txt := func(name string) []string {
		m, err := r.Query(name, dns.TypeTXT)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeSuccess || !m.AuthenticatedData {
			t.Fatalf("%s: %s AD %v", name, dns.RcodeToString[m.Rcode], m.AuthenticatedData)
		}
		return JoinTXT(m.Answer)
	}
	rec, err := ParseRecords(txt(RecordName("policy.test")))
	if err != nil || rec.ID != "20260601T1200" {
		t.Errorf("ParseRecords = %+v, %v", rec, err)
	}
	if _, err := ParseRecords(txt(RecordName("twice.policy.test"))); err == nil {
		t.Error("two v=STSv1 records accepted")
	}
	rpt := tlsrpt.Evaluate("policy.test", txt(tlsrpt.RecordName("policy.test")), nil)
	if rpt.Status != tlsrpt.Present || len(rpt.Record.RUA) != 2 || rpt.Record.RUA[0] != "mailto:tls-reports@policy.test" {
		t.Errorf("TLS-RPT = %+v", rpt)
	}

	// The whole MTA-STS audit of the domain, with the policy from a server on loopback.
	pki := newWebPKI(t)
	ps := startPolicyServer(t)
	ps.serve("policy.test", pki.issue(t, pki.public, "mta-sts.policy.test", now.Add(90*day)), text("version: STSv1\nmode: enforce\nmx: *.policy.test\nmax_age: 604800\n"))
	res := ps.fetcher(pki.roots).Audit(context.Background(), Input{Domain: "policy.test", TXT: txt(RecordName("policy.test")), Roots: pki.roots, Now: now,
		MX: []MX{{Host: "mx.other.test", TLS: true}}})
	if res.Status != InEnforce || res.Record.ID != "20260601T1200" || len(res.Outcomes) != 1 || res.Outcomes[0].Host != "mx.other.test" {
		t.Errorf("Audit = %+v", res)
	}
}
