package audit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func target(mx, addr string, vs ...Verdict) TargetResult {
	t := TargetResult{MX: mx, Port: 25, Address: addr, Family: FamilyOf(addr), TLS: StartTLS, Verdict: vs[0], Verdicts: vs,
		Details: map[Verdict]string{}, Root: Root{Store: RootSystem}}
	for _, v := range vs {
		if v != Valid {
			t.Details[v] = "why " + string(v)
		}
	}
	return t
}

func withLeaf(t TargetResult, notAfter time.Time) TargetResult {
	t.Chain = []Cert{{Subject: "CN=" + t.MX, NotAfter: notAfter}}
	return t
}

// TestSetTargets: the partner's own audit is that of its worst target.
func TestSetTargets(t *testing.T) {
	soon := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	later := soon.AddDate(1, 0, 0)
	tests := []struct {
		name      string
		targets   []TargetResult
		worst     string // MX [address] of the worst
		verdicts  []Verdict
		failing   int
		text      string
		detailFor Verdict
		detailHas string
	}{
		{name: "one target", targets: []TargetResult{target("mx1.a.example", "192.0.2.1", Valid)},
			worst: "mx1.a.example [192.0.2.1]:25", verdicts: []Verdict{Valid}, failing: 0, text: ""},
		{name: "secondary MX expired", targets: []TargetResult{
			target("mx1.a.example", "192.0.2.1", Valid), target("mx1.a.example", "2001:db8::1", Valid),
			target("mx2.a.example", "192.0.2.2", Expired, NameMismatch), target("mx2.a.example", "2001:db8::2", Valid)},
			worst: "mx2.a.example [192.0.2.2]:25", verdicts: []Verdict{Expired, NameMismatch}, failing: 1, text: "1 of 4 addresses",
			detailFor: Expired, detailHas: "mx2.a.example [192.0.2.2]:25: why Expired"},
		{name: "IPv6 address with another problem", targets: []TargetResult{
			target("mx.a.example", "192.0.2.1", WeakKey), target("mx.a.example", "2001:db8::1", UntrustedRoot)},
			worst: "mx.a.example [2001:db8::1]:25", verdicts: []Verdict{UntrustedRoot, WeakKey}, failing: 2, text: "all 2 addresses",
			detailFor: WeakKey, detailHas: "mx.a.example [192.0.2.1]:25: why WeakKey"},
		{name: "same verdict everywhere: the leaf expiring first decides", targets: []TargetResult{
			withLeaf(target("mx1.a.example", "192.0.2.1", Valid), later), withLeaf(target("mx2.a.example", "192.0.2.2", Valid), soon)},
			worst: "mx2.a.example [192.0.2.2]:25", verdicts: []Verdict{Valid}, failing: 0, text: "0 of 2 addresses"},
		{name: "same verdict, one detail per target", targets: []TargetResult{
			target("mx1.a.example", "192.0.2.1", PartialChain), target("mx2.a.example", "192.0.2.2", PartialChain)},
			worst: "mx1.a.example [192.0.2.1]:25", verdicts: []Verdict{PartialChain}, failing: 2, text: "all 2 addresses",
			detailFor: PartialChain, detailHas: "mx1.a.example [192.0.2.1]:25: why PartialChain; mx2.a.example [192.0.2.2]:25: why PartialChain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Result{Partner: Partner{Name: "A", Domain: "a.example", Line: 7, Contact: "it@a.example"}, Findings: []Finding{{Check: "mx", Message: "m"}}}
			r.SetTargets(tt.targets)
			w := r.Targets[r.Worst()]
			if got := w.String(); got != tt.worst {
				t.Errorf("worst target %s, want %s", got, tt.worst)
			}
			if r.Host != w.MX || r.Address != w.Address || r.Verdict != w.Verdict || r.Line != 7 || r.Contact != "it@a.example" || len(r.Findings) != 1 {
				t.Errorf("top level not the worst target's: host %s address %s verdict %s line %d contact %q findings %d",
					r.Host, r.Address, r.Verdict, r.Line, r.Contact, len(r.Findings))
			}
			if !slices.Equal(r.Verdicts, tt.verdicts) || r.Verdict != tt.verdicts[0] {
				t.Errorf("verdicts %v (primary %s), want %v", r.Verdicts, r.Verdict, tt.verdicts)
			}
			if r.TargetsFailing != tt.failing || r.TargetsText() != tt.text {
				t.Errorf("failing %d %q, want %d %q", r.TargetsFailing, r.TargetsText(), tt.failing, tt.text)
			}
			if tt.detailFor != "" && !strings.Contains(r.Details[tt.detailFor], tt.detailHas) {
				t.Errorf("detail of %s = %q, want it to hold %q", tt.detailFor, r.Details[tt.detailFor], tt.detailHas)
			}
		})
	}
}

func TestTargetNames(t *testing.T) {
	tests := []struct {
		name, mx, addr, key, text, family string
	}{
		{"IPv4", "mx.a.example", "192.0.2.1", "mx.a.example:25 via 192.0.2.1", "mx.a.example [192.0.2.1]:25", IPv4},
		{"IPv6", "mx.a.example", "2001:db8::1", "mx.a.example:25 via 2001:db8::1", "mx.a.example [2001:db8::1]:25", IPv6},
		{"NAT port", "mx.a.example", "10.1.2.3:2525", "mx.a.example:25 via 10.1.2.3:2525", "mx.a.example [10.1.2.3]:25 via 10.1.2.3:2525", IPv4},
		{"IPv6 with port", "mx.a.example", "[2001:db8::1]:25", "mx.a.example:25 via [2001:db8::1]:25", "mx.a.example [2001:db8::1]:25", IPv6},
		{"no address", "mx.a.example", "", "mx.a.example:25", "mx.a.example:25", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := TargetResult{MX: tt.mx, Port: 25, Address: tt.addr}
			if got := tr.Key(); got != tt.key {
				t.Errorf("Key() = %q, want %q", got, tt.key)
			}
			if got := tr.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			if got := FamilyOf(tt.addr); got != tt.family {
				t.Errorf("FamilyOf(%q) = %q, want %q", tt.addr, got, tt.family)
			}
		})
	}
}

// A schema-1 results.json (as mxaudit wrote it before targets) reads as
// schema 2: every probed result gets its one target.
func TestReadSchema1(t *testing.T) {
	res, err := ReadResults(filepath.Join("testdata", "results-schema1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Schema != SchemaVersion {
		t.Errorf("schema %d after reading", res.Schema)
	}
	for _, r := range res.Partners {
		if r.Verdict == DNSError {
			if len(r.Targets) != 0 {
				t.Errorf("%s: a host that did not resolve has targets %+v", r.Name, r.Targets)
			}
			continue
		}
		if len(r.Targets) != 1 {
			t.Fatalf("%s: %d targets, want 1", r.Name, len(r.Targets))
		}
		tg := r.Targets[0]
		if tg.MX != r.Host || tg.Verdict != r.Verdict || !slices.Equal(tg.Verdicts, r.Verdicts) || len(tg.Chain) != len(r.Chain) {
			t.Errorf("%s: target %+v does not restate the result", r.Name, tg)
		}
		if tg.Family == "" || tg.Address == "" {
			t.Errorf("%s: target address %q family %q (remote %s)", r.Name, tg.Address, tg.Family, r.SMTP.RemoteAddr)
		}
		if r.TargetsFailing != map[bool]int{true: 1, false: 0}[r.Verdict != Valid] {
			t.Errorf("%s: %d failing", r.Name, r.TargetsFailing)
		}
	}
	// An unknown schema is refused with its number.
	dir := t.TempDir()
	b, _ := json.Marshal(map[string]any{"schema": 9, "partners": []any{}})
	p := filepath.Join(dir, "r.json")
	os.WriteFile(p, b, 0o644)
	if _, err := ReadResults(p); err == nil || !strings.Contains(err.Error(), "schema 9") {
		t.Errorf("schema 9: %v", err)
	}
}
