package reports

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func vantageRun(rows ...audit.Result) *audit.Results { return &audit.Results{Partners: rows} }

func row(name string, enforced bool, v audit.Verdict) audit.Result {
	return audit.Result{Partner: audit.Partner{Name: name, Domain: name + ".example", Host: "mx." + name + ".example", Port: 25, Enforced: enforced}, Verdict: v, Verdicts: []audit.Verdict{v}}
}

func TestCompareVantages(t *testing.T) {
	names := []string{"eu-1", "us-east", ""}
	runs := []*audit.Results{
		vantageRun(row("same", false, audit.Valid), row("firewalled", true, audit.Valid), row("twofail", false, audit.Timeout),
			row("warn", false, audit.Valid), row("allfail", false, audit.Expired), row("onlyeu", false, audit.Valid)),
		vantageRun(row("same", false, audit.Valid), row("firewalled", true, audit.ConnectionRefused), row("twofail", false, audit.Timeout),
			row("warn", false, audit.WeakKey), row("allfail", false, audit.NameMismatch), row("late", false, audit.Valid)),
		vantageRun(row("same", false, audit.Valid), row("firewalled", true, audit.Valid), row("twofail", false, audit.Valid),
			row("warn", false, audit.Valid), row("allfail", false, audit.Expired), row("notprobed", false, audit.NotProbed)),
	}
	got := CompareVantages(names, runs)
	want := map[string]string{
		"same":       "",
		"firewalled": "fails from us-east only",
		"twofail":    "fails from eu-1 and us-east only",
		"warn":       "verdicts differ", // WeakKey is a warning for a partner not enforced
		"allfail":    "verdicts differ",
		"onlyeu":     "",
		"late":       "",
		"notprobed":  "",
	}
	var order []string
	for _, r := range got {
		order = append(order, r.Partner)
		if r.Note != want[r.Partner] {
			t.Errorf("%s: note %q, want %q (verdicts %v)", r.Partner, r.Note, want[r.Partner], r.Verdicts)
		}
	}
	if wantOrder := []string{"same", "firewalled", "twofail", "warn", "allfail", "onlyeu", "late", "notprobed"}; !slices.Equal(order, wantOrder) {
		t.Errorf("order %v, want %v", order, wantOrder)
	}
	if v := got[1].Verdicts; !slices.Equal(v, []audit.Verdict{audit.Valid, audit.ConnectionRefused, audit.Valid}) {
		t.Errorf("firewalled verdicts %v", v)
	}
	if v := got[6].Verdicts; !slices.Equal(v, []audit.Verdict{"", audit.Valid, ""}) {
		t.Errorf("a row only us-east audited: %v", v)
	}
	if d := Differing(got); len(d) != 4 {
		t.Errorf("%d differing rows, want 4", len(d))
	}

	var b strings.Builder
	if err := WriteVantagesCSV(&b, names, got); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(recs[0], ","); h != "partner,domain,host,port,address,verdict_eu-1,verdict_us-east,verdict_default,note" {
		t.Errorf("header %s", h)
	}
	if r := strings.Join(recs[2], ","); r != "firewalled,firewalled.example,mx.firewalled.example,25,,Valid,ConnectionRefused,Valid,fails from us-east only" {
		t.Errorf("row %s", r)
	}
}

// TestCompareVantagesByTarget: a partner by domain is compared target by
// target: us-east reaches its second address and finds it expired, which
// makes that address its worst target there; eu-1 saw both valid. The
// partner's first address agrees, the second fails from us-east only.
func TestCompareVantagesByTarget(t *testing.T) {
	tgt := func(addr string, v audit.Verdict) audit.TargetResult {
		return audit.TargetResult{MX: "mx1.contoso.example", Address: addr, Port: 25, Found: audit.FoundMX, TLS: audit.StartTLS,
			Verdict: v, Verdicts: []audit.Verdict{v}}
	}
	partner := func(ts ...audit.TargetResult) audit.Result {
		r := audit.Result{Partner: audit.Partner{Name: "contoso", Domain: "contoso.example", Port: 25, Enforced: true}}
		r.SetTargets(ts)
		return r
	}
	eu := vantageRun(partner(tgt("192.0.2.1", audit.Valid), tgt("192.0.2.2", audit.Valid)))
	us := vantageRun(partner(tgt("192.0.2.1", audit.Valid), tgt("192.0.2.2", audit.Expired)))
	if us.Partners[0].Address != "192.0.2.2" || eu.Partners[0].Address != "192.0.2.1" {
		t.Fatalf("the worst targets: eu-1 %s, us-east %s", eu.Partners[0].Address, us.Partners[0].Address)
	}
	got := CompareVantages([]string{"eu-1", "us-east"}, []*audit.Results{eu, us})
	var rows []string
	for _, r := range got {
		rows = append(rows, fmt.Sprintf("%s %s:%d %s %v %q", r.Partner, r.Host, r.Port, r.Address, r.Verdicts, r.Note))
	}
	want := []string{
		`contoso mx1.contoso.example:25 192.0.2.1 [Valid Valid] ""`,
		`contoso mx1.contoso.example:25 192.0.2.2 [Valid Expired] "fails from us-east only"`,
	}
	if !slices.Equal(rows, want) {
		t.Errorf("rows:\n got %q\nwant %q", rows, want)
	}
}
