package reports

import (
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// withDeliveries gives the fixture's first partners what our Postfix
// decided for them, under a policy map, with a what-if of secure.
func withDeliveries(t *testing.T) *audit.Results {
	res := loadFixture(t)
	if len(res.Partners) < 3 {
		t.Fatal("fixture too small")
	}
	res.Partners[0].Delivery = &audit.Delivery{Outcome: audit.Delivers, MTA: "Postfix", Policy: "verify", Source: "/etc/postfix/tls_policy:3",
		Rule: "Postfix verify: Verified TLS connection", WhatIfPolicy: "secure", WhatIfOutcome: audit.Deferred, WhatIfRule: "Postfix secure: no name matches"}
	res.Partners[1].Delivery = &audit.Delivery{Outcome: audit.Deferred, MTA: "Postfix", Policy: "secure", Source: "/etc/postfix/tls_policy:4",
		Rule: "Postfix secure: Server certificate not verified: no name in the certificate matches nexthop:dot-nexthop (the audit's trust store; Postfix trusts /etc/ssl/certs/ca.pem)", WhatIfPolicy: "secure", WhatIfOutcome: audit.Deferred}
	res.Partners[2].Delivery = &audit.Delivery{Outcome: audit.DeliversUnauthenticated, MTA: "Postfix", Policy: "encrypt", Source: "/etc/postfix/tls_policy:5",
		Rule: "Postfix encrypt: mandatory TLS encryption", WhatIfPolicy: "secure", WhatIfOutcome: audit.Delivers}
	return res
}

func TestDeliveryLead(t *testing.T) {
	res := withDeliveries(t)
	cols, order := deliveryLead(res.Partners)
	if len(cols) != 6 || cols[0].title != "Delivery" || cols[4].title != "Under secure" {
		t.Fatalf("lead columns %+v", cols)
	}
	// Grouped by source (one here), worst first: the deferred partner leads.
	if order[0] != 1 {
		t.Errorf("first row is partner %d, want the deferred one (1)", order[0])
	}
	if c := deliveryCells(&res.Partners[1], len(cols)); c[0] != audit.Deferred || c[2] != "/etc/postfix/tls_policy:4" {
		t.Errorf("cells %v", c)
	}
	if none, _ := deliveryLead(loadFixture(t).Partners); none != nil {
		t.Errorf("a run without an MTA policy has lead columns %v", none)
	}
}

func TestPartnerDelivery(t *testing.T) {
	res := withDeliveries(t)
	cases := []struct {
		name   string
		r      *audit.Result
		ok     bool
		remedy string
	}{
		{"delivers", &res.Partners[0], false, ""},
		{"deferred under secure", &res.Partners[1], true, "names " + res.Partners[1].Domain + " or a name under it"},
		{"unauthenticated", &res.Partners[2], false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := PartnerDelivery(tc.r)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if !strings.Contains(f.Remedy, tc.remedy) || !strings.Contains(f.Message, `TLS policy "secure"`) || strings.Contains(f.Message, "tls_policy:4") || strings.Contains(f.Message, "/etc/ssl") || !strings.Contains(f.Message, "Postfix trusts (our file)") {
				t.Errorf("finding %+v", f)
			}
		})
	}
}

func TestPDFLeadsWithDelivery(t *testing.T) {
	text, _ := pdfText(t, renderPDF(t, withDeliveries(t), Options{CJKFont: cjkFont(t)}))
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{
		"/etc/postfix/tls_policy: 3 partners; mail to 1 is deferred today, 1 delivered without authentication; 1 would stop under secure; 1 pass secure already.",
		"Our mail: deferred. Postfix secure: Server certificate not verified",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("PDF text lacks %q", want)
		}
	}
	if i, j := strings.Index(flat, "3 partners; mail to 1"), strings.Index(flat, "Partners by verdict"); i < 0 || j < i {
		t.Error("the summary does not lead with delivery")
	}
}

// deliveryLead is the columns the Partners sheet leads with when our MTA's
// policy was evaluated (delivery, policy, its source, the rule, the
// what-if), and the order of the rows: grouped by policy source, worst
// delivery first within a source, then inventory order (deliveryPasses).
func deliveryLead(ps []audit.Result) ([]column, []int) {
	groups := audit.DeliveryGroups(ps)
	var order []int
	for _, p := range deliveryPasses(groups) {
		for i := range ps {
			if p.has(ps[i].Delivery) {
				order = append(order, i)
			}
		}
	}
	return leadColumns(groups), order
}
