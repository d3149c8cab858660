package promfile

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var started = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)

func fixture() *audit.Results {
	return &audit.Results{
		Schema:    audit.SchemaVersion,
		Started:   started,
		Finished:  started.Add(93*time.Second + 250*time.Millisecond),
		Inventory: "/etc/mxaudit/partners.csv",
		Partners: []audit.Result{
			{Partner: audit.Partner{Name: "contoso", Host: "mx.contoso.example", Port: 25, Enforced: true}, Verdict: audit.Valid,
				Chain: []audit.Cert{{NotAfter: started.Add(45*24*time.Hour + time.Hour)}}},
			{Partner: audit.Partner{Name: `fab "rikam"`, Host: "mx.fabrikam.example", Port: 25}, Verdict: audit.UntrustedRoot,
				Chain: []audit.Cert{{NotAfter: started.Add(-36 * time.Hour)}}},
			{Partner: audit.Partner{Name: "tailspin", Host: "mx.tailspin.example", Port: 25, Enforced: true}, Verdict: audit.Timeout},
			{Partner: audit.Partner{Name: "contoso", Host: "mx2.contoso.example", Port: 25}, Verdict: audit.Timeout},
		},
		PrivateRoots: []audit.PrivateRoot{{File: `C:\roots\adatum.cer`, Subject: "CN=Adatum Root,O=Adatum", NotAfter: started.AddDate(2, 0, 0)}},
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*audit.Results)
		o      Options
		golden string
	}{
		{"complete run", func(*audit.Results) {}, Options{}, "complete.prom"},
		{"incomplete run keeps the last success", func(r *audit.Results) { r.Incomplete = true }, Options{LastSuccess: started.Add(-24 * time.Hour)}, "incomplete.prom"},
		{"a domain partner's targets, at a vantage point", withTargets, Options{}, "targets.prom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := fixture()
			tt.edit(res)
			got := Render(res, tt.o)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Render differs from %s (go test -update to accept):\n%s", path, got)
			}
			n := 0
			for _, line := range strings.Split(string(got), "\n") {
				if strings.HasPrefix(line, "mxaudit_partner_failing{") && strings.Contains(line, `,partner="contoso"}`) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("duplicate partner name gives %d series", n)
			}
		})
	}
}

// withTargets adds a domain partner with two MX hosts, one target listed
// twice (two inventory rows), one of them not probed, and names the vantage point and shard.
func withTargets(r *audit.Results) {
	r.Vantage, r.Shard = "paris-dc2", "2/4"
	leaf := []audit.Cert{{NotAfter: started.Add(10 * 24 * time.Hour)}}
	mx1 := audit.TargetResult{Line: 7, MX: "mx1.adatum.example", Address: "192.0.2.10", Port: 25, Verdict: audit.Valid, Chain: leaf}
	mx1v6 := audit.TargetResult{Line: 7, MX: "mx1.adatum.example", Address: "2001:db8::10", Port: 25, Verdict: audit.NameMismatch, Chain: leaf}
	mx2 := audit.TargetResult{Line: 7, MX: "mx2.adatum.example", Address: "192.0.2.20", Port: 25, Verdict: audit.NotProbed}
	again := mx1
	again.Line = 8
	r.Partners = append(r.Partners, audit.Result{
		Partner: audit.Partner{Name: "adatum", Domain: "adatum.example", Host: "mx1.adatum.example", Port: 25, Enforced: true},
		Verdict: audit.NameMismatch, Chain: leaf, Targets: []audit.TargetResult{mx1, mx1v6, mx2, again}})
}

func TestWriteAndLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mxaudit.prom")
	if got, err := LastSuccess(path); err != nil || !got.IsZero() {
		t.Fatalf("LastSuccess of a missing file: %v %v", got, err)
	}
	res := fixture()
	if err := Write(path, res, Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := LastSuccess(path)
	if err != nil || !got.Equal(res.Finished) {
		t.Fatalf("LastSuccess = %v, %v; want %v", got, err, res.Finished)
	}
	// An interrupted run carries the previous success forward.
	res.Incomplete = true
	res.Started, res.Finished = res.Started.Add(24*time.Hour), res.Finished.Add(24*time.Hour)
	if err := Write(path, res, Options{LastSuccess: got}); err != nil {
		t.Fatal(err)
	}
	if again, _ := LastSuccess(path); !again.Equal(got) {
		t.Errorf("after an incomplete run LastSuccess = %v, want %v", again, got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the textfile: %v", entries)
	}
}
