package shard

import (
	"fmt"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Spec
		err      bool
	}{
		{"empty is whole", "", Spec{}, false},
		{"first", "0/4", Spec{0, 4}, false},
		{"last", "3/4", Spec{3, 4}, false},
		{"one of one", "0/1", Spec{0, 1}, false},
		{"spaces", " 1 / 2 ", Spec{1, 2}, false},
		{"K equal N", "4/4", Spec{}, true},
		{"negative K", "-1/4", Spec{}, true},
		{"zero N", "0/0", Spec{}, true},
		{"too many", "0/10001", Spec{}, true},
		{"no slash", "3", Spec{}, true},
		{"words", "a/b", Spec{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
			}
			if err == nil && got.String() != "" && got.String() != fmt.Sprintf("%d/%d", tc.want.K, tc.want.N) {
				t.Errorf("String() = %q", got.String())
			}
		})
	}
}

// TestStable pins the slice function: these assignments are part of every
// sharded history, so a change of the function must fail here.
func TestStable(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    audit.Partner
		n    int
		want int
	}{
		{"domain", audit.Partner{Name: "Contoso", Domain: "contoso.example"}, 4, Of("contoso.example", 4)},
		{"case and trailing dot do not move a row", audit.Partner{Name: "x", Domain: "Contoso.Example."}, 4, Of("contoso.example", 4)},
		{"no domain: the partner name", audit.Partner{Name: "Müller GmbH"}, 7, Of("partner:Müller GmbH", 7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(Key(tc.p), tc.n); got != tc.want {
				t.Errorf("slice %d, want %d", got, tc.want)
			}
		})
	}
	// Fixed values of FNV-1a 64: a change of hash or key shows here.
	golden := map[string][2]int{"contoso.example": {4, 0}, "fabrikam.example": {4, 2}, "example.org": {10, 1}, "partner:Müller GmbH": {7, 1}}
	for key, nk := range golden {
		if got := Of(key, nk[0]); got != nk[1] {
			t.Errorf("Of(%q, %d) = %d, want %d", key, nk[0], got, nk[1])
		}
	}
}

// TestSelectPartitions checks that the N slices of an inventory hold every
// row exactly once, keep the inventory's order, keep a domain's rows
// together, and are roughly even.
func TestSelectPartitions(t *testing.T) {
	var ps []audit.Partner
	for i := range 3000 {
		d := fmt.Sprintf("d%d.example", i/2) // two MX rows per domain
		ps = append(ps, audit.Partner{Line: i + 2, Name: d, Domain: d, Host: fmt.Sprintf("mx%d.%s", i%2, d), Port: 25})
	}
	const n = 5
	seen := map[int]int{}
	for k := range n {
		sl := Spec{K: k, N: n}.Select(ps)
		if len(sl) < 3000/n*8/10 || len(sl) > 3000/n*12/10 {
			t.Errorf("slice %d holds %d rows of 3000", k, len(sl))
		}
		last := 0
		for _, p := range sl {
			if p.Line <= last {
				t.Fatalf("slice %d out of inventory order at line %d", k, p.Line)
			}
			last = p.Line
			seen[p.Line]++
			if other := (Spec{K: k, N: n}); !other.Holds(audit.Partner{Name: p.Name, Domain: p.Domain, Host: "other"}) {
				t.Errorf("%s: another row of the domain is in another slice", p.Domain)
			}
		}
	}
	for _, p := range ps {
		if seen[p.Line] != 1 {
			t.Errorf("line %d is in %d slices", p.Line, seen[p.Line])
		}
	}
	if got := (Spec{}).Select(ps); len(got) != len(ps) {
		t.Errorf("the whole inventory selects %d of %d", len(got), len(ps))
	}
}
