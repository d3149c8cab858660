package delivery

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// TestDecidePartnerEqualsDecide: deciding each partner from its own rows
// (as the pipeline does a batch at a time) gives every target and partner
// the delivery Decide gives over the whole run, a target's row chosen by
// its line among its partner's rows only.
func TestDecidePartnerEqualsDecide(t *testing.T) {
	tg, verify := provider(t, false)
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig(), PolicyMap: &mtapolicy.PolicyMap{}, HasPostfix: true}
	var (
		res  audit.Results
		rows []audit.Partner
	)
	for i := range 60 {
		name := fmt.Sprintf("partner%02d", i)
		a, b := name+"-a.example", name+"-b.example"
		m.PolicyMap.Add(mtapolicy.PostfixPolicy{Key: a, Level: mtapolicy.LevelSecure, File: "tls_policy", Line: 2*i + 1})
		m.PolicyMap.Add(mtapolicy.PostfixPolicy{Key: b, Level: mtapolicy.LevelMay, File: "tls_policy", Line: 2*i + 2})
		// Two rows of the partner, at lines a second partner's rows use too.
		rows = append(rows, audit.Partner{Name: name, Domain: a, Port: 25, Line: 10}, audit.Partner{Name: name, Domain: b, Port: 25, Line: 11})
		t1, t2, t3 := tg, tg, tg
		t1.Line, t2.Line, t3.Line = 10, 11, 99 // line 99: no row, the partner's own domain
		if i%3 == 0 {
			t2.Verdict = audit.NotProbed // no delivery for it
		}
		res.Partners = append(res.Partners, audit.Result{Partner: audit.Partner{Name: name, Domain: a, Port: 25, Line: 10},
			Targets: []audit.TargetResult{t1, t2, t3}})
	}
	res.Partners = append(res.Partners, audit.Result{Partner: audit.Partner{Name: "nullmx", Domain: "nullmx.example"}, Verdict: audit.NullMX})
	o := Options{MTA: m, Verify: verify, Now: now}

	held := res
	held.Partners = clonePartners(res.Partners)
	Decide(&held, rows, o)

	for i := range res.Partners {
		p := clonePartners(res.Partners[i : i+1])[0] // as read back from the spill
		own := slices.DeleteFunc(slices.Clone(rows), func(r audit.Partner) bool { return r.Name != p.Name })
		DecidePartner(&p, own, o)
		h := &held.Partners[i]
		if !reflect.DeepEqual(p.Delivery, h.Delivery) {
			t.Fatalf("%s: DecidePartner %+v, Decide %+v", p.Name, p.Delivery, h.Delivery)
		}
		for k := range p.Targets {
			if !reflect.DeepEqual(p.Targets[k].Delivery, h.Targets[k].Delivery) {
				t.Fatalf("%s target %d: DecidePartner %+v, Decide %+v", p.Name, k, p.Targets[k].Delivery, h.Targets[k].Delivery)
			}
		}
	}
	// The rows mattered: line 11 is addressed to the partner's b domain (may), line 10 to its a domain (secure).
	p := &held.Partners[1]
	if d10, d11 := p.Targets[0].Delivery, p.Targets[1].Delivery; d10 == nil || d11 == nil || d10.Policy == d11.Policy {
		t.Errorf("targets of lines 10 and 11 decided under %+v and %+v, want their rows' policies", d10, d11)
	}
	if d := held.Partners[0].Targets[1].Delivery; d != nil {
		t.Errorf("a target not probed got %+v", d)
	}
	if d := held.Partners[len(held.Partners)-1].Delivery; d == nil || d.Outcome != audit.Bounces {
		t.Errorf("null MX partner: %+v, want it bounces", d)
	}
}

func clonePartners(ps []audit.Result) []audit.Result {
	out := slices.Clone(ps)
	for i := range out {
		out[i].Targets = slices.Clone(ps[i].Targets)
	}
	return out
}
