package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// TestShardSlices reads one inventory as each of its slices: every row is
// in exactly one, a domain's rows stay together, the bad row is reported by
// shard 0 alone, and an empty slice is a run, not an error.
func TestShardSlices(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.csv")
	csv := "partner,domain,host\n" +
		"A,a.example,mx1.a.example\nA,a.example,mx2.a.example\nB,b.example,mx.b.example\nC,,mx.c.example\n" +
		"Bad,,\n" // neither domain nor host
	if err := os.WriteFile(inv, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 7 // more slices than domains: some are empty
	seen := map[string]int{}
	empty := 0
	for k := range n {
		cfg := Config{Inventory: inv, Shard: shard.Spec{K: k, N: n}}
		rows, errs, _, done, err := cfg.partners(slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("shard %d/%d: %v", k, n, err)
		}
		var ps []audit.Partner
		for i := range rows.Len() {
			ps = append(ps, rows.Row(i))
		}
		done()
		if (len(errs) == 1) != (k == 0) {
			t.Errorf("shard %d/%d reports %d bad rows", k, n, len(errs))
		}
		if len(ps) == 0 {
			empty++
		}
		domains := map[string]bool{}
		for _, p := range ps {
			seen[p.Host]++
			domains[shard.Key(p)] = true
			if !cfg.Shard.Holds(p) {
				t.Errorf("shard %d/%d holds %s, which is not its", k, n, p.Host)
			}
		}
		for d := range domains {
			want := map[string]int{"a.example": 2, "b.example": 1, "partner:C": 1}[d]
			got := 0
			for _, p := range ps {
				if shard.Key(p) == d {
					got++
				}
			}
			if got != want {
				t.Errorf("shard %d/%d holds %d rows of %s, want all %d", k, n, got, d, want)
			}
		}
	}
	for _, h := range []string{"mx1.a.example", "mx2.a.example", "mx.b.example", "mx.c.example"} {
		if seen[h] != 1 {
			t.Errorf("%s is in %d slices", h, seen[h])
		}
	}
	if empty < n-3 {
		t.Errorf("%d empty slices, want at least %d", empty, n-3)
	}
}

// TestScanEmptyShard scans a slice that holds no row: it is recorded as a
// complete run of its label, so the label shows that shard done.
func TestScanEmptyShard(t *testing.T) {
	cfg, dials := oneServer(t)
	key := shard.Key(audit.Partner{Name: "Scan AG"})
	cfg.Shard = shard.Spec{K: (shard.Of(key, 2) + 1) % 2, N: 2} // the slice without it
	cfg.RunLabel, cfg.Vantage = "empty-shard", "eu-1"
	cfg.Hold = true
	res, err := Scan(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Partners) != 0 || dials.Load() != 0 || res.Shard != cfg.Shard.String() || res.RunLabel != "empty-shard" || res.Vantage != "eu-1" {
		t.Fatalf("empty shard: %d partners, %d dials, shard %q label %q vantage %q", len(res.Partners), dials.Load(), res.Shard, res.RunLabel, res.Vantage)
	}
	db, err := history.Open(cfg.History.Path, history.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.Label("empty-shard")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	st.WriteText(&b)
	if len(st.Parts) != 2 || st.Parts[cfg.Shard.K].Status != history.StatusComplete || st.Parts[1-cfg.Shard.K].Status != history.StatusMissing {
		t.Errorf("label after the empty shard:\n%s", b.String())
	}

	cfg.Vantage = "bad vantage"
	cfg.Hold = true
	if _, err := Scan(context.Background(), cfg); ExitCode(nil, err, audit.Error) != ExitUsage {
		t.Errorf("a vantage point with a space: %v", err)
	}
}
