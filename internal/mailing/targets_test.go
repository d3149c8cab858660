package mailing

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// targetsFixture is one partner by domain: two MX, the first with an IPv4
// and an IPv6 address, the IPv6 one serving an untrusted certificate.
func targetsFixture() *audit.Results {
	far := started.AddDate(1, 0, 0)
	r := result("Dual AG", "dual.example", false, "it@dual.example", []audit.Verdict{audit.Valid})
	r.Host = ""
	tg := func(mx string, pref int, addr string, v audit.Verdict, c audit.Cert) audit.TargetResult {
		t := audit.TargetResult{MX: mx, Preference: pref, Found: audit.FoundMX, Address: addr, Port: 25, Family: audit.FamilyOf(addr),
			TLS: audit.StartTLS, Verdict: v, Verdicts: []audit.Verdict{v}, Root: audit.Root{Store: audit.RootSystem}, Chain: []audit.Cert{c}}
		if v != audit.Valid {
			t.Details = map[audit.Verdict]string{v: "the chain ends in CN=Other Root"}
			t.Root.Store = audit.RootNone
		}
		return t
	}
	r.SetTargets([]audit.TargetResult{
		tg("mx1.dual.example", 10, "192.0.2.1", audit.Valid, cert("CN=mx1.dual.example", "CN=Public CA", far)),
		tg("mx1.dual.example", 10, "2001:db8::1", audit.UntrustedRoot, cert("CN=mx1.dual.example", "CN=Other Root", far)),
		tg("mx2.dual.example", 20, "192.0.2.2", audit.Valid, cert("CN=mx2.dual.example", "CN=Public CA", far)),
	})
	return &audit.Results{Schema: audit.SchemaVersion, Started: started, Finished: started, Partners: []audit.Result{r}}
}

// TestMailTargets: a partner's mail names the address with the problem and
// lists every address audited, one message for the partner.
func TestMailTargets(t *testing.T) {
	res := targetsFixture()
	plan, err := Compose(res, Options{Sender: "audit@corp.example", Owner: "owner@corp.example", Date: started})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Messages) != 2 {
		t.Fatalf("%d messages, want the partner's and the owner's", len(plan.Messages))
	}
	var b bytes.Buffer
	if _, err := plan.Messages[0].WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	p := parse(t, b.Bytes())
	for _, want := range []string{
		"found a problem with mx1.dual.example [2001:db8::1] (dual.example)",
		"* UntrustedRoot: the chain ends in CN=Other Root",
		"We audited 3 mail servers of yours:",
		"* mx1.dual.example [192.0.2.1] (port 25): no findings",
		"* mx1.dual.example [2001:db8::1] (port 25): UntrustedRoot",
		"* mx2.dual.example (port 25): no findings",
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, p.Body)
		}
	}
	if !strings.Contains(p.Subject, "mx1.dual.example [2001:db8::1]") || !strings.Contains(p.Subject, "UntrustedRoot") {
		t.Errorf("subject %q", p.Subject)
	}
	if got := plan.Messages[0].Hosts; len(got) != 3 {
		t.Errorf("send log rows %v, want the 3 targets", got)
	}
	text := pdfText(t, p.Attachments[0].Data)
	for _, want := range []string{"mx1.dual.example", "2001:db8::1", "192.0.2.2", "UntrustedRoot"} {
		if !strings.Contains(text, want) {
			t.Errorf("partner PDF lacks %q", want)
		}
	}
}
