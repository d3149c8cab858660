package formats_test

import (
	"reflect"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory/formats"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

func TestPartnersFromPolicyMap(t *testing.T) {
	inv, errs, err := formats.Read([]byte(`# our partners
contoso.example      secure
.contoso.example     secure
[mx.fabrikam.example]:587 encrypt
[192.0.2.7]          verify
[relay.example]:submission encrypt
mueller.example      may
`), "tls_policy", formats.PostfixPolicyMap)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	main, _, err := formats.Read([]byte("smtp_tcp_port = 2525\n"), "main.cf", formats.PostfixMainCF)
	if err != nil {
		t.Fatal(err)
	}
	m, errs2 := formats.Gather(inv, main)
	if len(errs2) > 0 {
		t.Fatal(errs2)
	}
	got := formats.Partners(m)
	want := []audit.Partner{
		{Line: 2, Name: "contoso.example", Domain: "contoso.example", Port: 2525, Enforced: true},
		{Line: 4, Name: "mx.fabrikam.example", Host: "mx.fabrikam.example", Port: 587, Enforced: true},
		{Line: 5, Name: "192.0.2.7", Host: "192.0.2.7", Address: "192.0.2.7", Port: 2525, Enforced: true},
		{Line: 7, Name: "mueller.example", Domain: "mueller.example", Port: 2525},
	}
	if len(got) != len(want) {
		t.Fatalf("partners %+v\nwant %+v", got, want)
	}
	for i, w := range want {
		g := got[i]
		g.Extra = nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("partner %d: %+v, want %+v", i, g, w)
		}
	}
	if got[1].Extra[formats.NextHopColumn] != "[mx.fabrikam.example]:587" {
		t.Errorf("next hop %q", got[1].Extra[formats.NextHopColumn])
	}
}

func TestMergeContacts(t *testing.T) {
	ps := []audit.Partner{{Name: "contoso.example", Domain: "contoso.example"}, {Name: "mx.fabrikam.example", Host: "mx.fabrikam.example"}, {Name: "other.example", Domain: "other.example"}}
	formats.MergeContacts(ps, []audit.Partner{
		{Name: "Contoso", Domain: "Contoso.example", Contact: "pki@contoso.example", Notes: "since 2019"},
		{Name: "Fabrikam", Host: "mx.fabrikam.example", Contact: "it@fabrikam.example"},
	})
	if ps[0].Name != "Contoso" || ps[0].Contact != "pki@contoso.example" || ps[0].Notes != "since 2019" {
		t.Errorf("by domain: %+v", ps[0])
	}
	if ps[1].Name != "Fabrikam" || ps[1].Contact != "it@fabrikam.example" {
		t.Errorf("by host: %+v", ps[1])
	}
	if ps[2].Name != "other.example" || ps[2].Contact != "" {
		t.Errorf("no contact row: %+v", ps[2])
	}
}

func TestAddPolicyColumn(t *testing.T) {
	rows := []audit.Partner{
		{Line: 2, Name: "Contoso", Domain: "contoso.example", Extra: map[string]string{"policy": "secure match=nexthop:dot-nexthop"}},
		{Line: 3, Name: "Fabrikam", Domain: "fabrikam.example", Extra: map[string]string{"policy": "DomainValidation"}},
		{Line: 4, Name: "Müller", Domain: "mueller.example", Extra: map[string]string{"policy": "DomainSecure"}},
		{Line: 5, Name: "Bad", Domain: "bad.example", Extra: map[string]string{"policy": "strict"}},
		{Line: 6, Name: "Bad level", Domain: "bad2.example", Extra: map[string]string{"policy": "secure match="}},
		{Line: 7, Name: "None", Domain: "none.example"},
	}
	m := &mtapolicy.MTA{Postfix: mtapolicy.DefaultPostfixConfig()}
	var errs []audit.InventoryError
	if !formats.AddPolicyColumn(m, rows, "partners.csv", &errs) {
		t.Fatal("no policy found")
	}
	if p, ok := m.PolicyMap.Lookup("contoso.example"); !ok || p.Level != mtapolicy.LevelSecure || p.Where() != "partners.csv:2" {
		t.Errorf("contoso: %+v %v", p, ok)
	}
	if r, ok := m.Server.Route("fabrikam.example"); !ok || r.TLSAuth != mtapolicy.DomainValidation {
		t.Errorf("fabrikam: %+v %v", r, ok)
	}
	if !m.Server.DomainSecured("mueller.example") {
		t.Error("mueller is not domain secured")
	}
	if len(errs) != 2 || errs[0].Line != 5 || errs[0].Column != "policy" || errs[0].File != "partners.csv" || errs[1].Line != 6 {
		t.Errorf("errors %+v, want lines 5 and 6 of partners.csv, column policy", errs)
	}
}
