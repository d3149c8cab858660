package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// TestRealScans records two real scans of the test fleet (nothing changes
// between them): the second reports no change, and each run loads back
// exactly as it was recorded, every field the probe fills included.
func TestRealScans(t *testing.T) {
	f, err := fleet.Start(fleet.Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := fleetTrust(t, f)
	scan := func(now time.Time) *audit.Results {
		res := ProbeAll(context.Background(), f.Partners(), Options{
			Probe:    probe.Options{HELO: "audit.test", Timeout: 2 * time.Second, ConnectTimeout: time.Second},
			Resolver: f.Resolver,
			Roots:    tr.Pool,
			StoreOf:  tr.StoreOf,
			Now:      now,
		})
		res.Inventory = "/srv/fleet/partners.csv"
		return res
	}
	db, err := history.Open(filepath.Join(t.TempDir(), "history.db"), history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first := scan(f.Now)
	if len(first.Partners) < 10 {
		t.Fatalf("the fleet scan has %d partners", len(first.Partners))
	}
	id1 := record(t, db, first)
	second := scan(f.Now.Add(24 * time.Hour))
	id2 := record(t, db, second)
	for _, c := range second.Changes {
		if c.Kind != history.ExpiryThreshold { // the fleet has certificates a day from a threshold
			t.Errorf("unchanged fleet: %s %s %q -> %q", c.Partner, c.Kind, c.Before, c.After)
		}
	}
	for id, want := range map[int64]*audit.Results{id1: first, id2: second} {
		got, err := db.Results(id)
		if err != nil {
			t.Fatal(err)
		}
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("run %d loads back differently:\n got %s\nwant %s", id, g, w)
		}
	}
}

func record(t *testing.T, db *history.DB, res *audit.Results) int64 {
	t.Helper()
	id, err := db.Begin(res.Inventory, res.Started)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Record(id, res); err != nil {
		t.Fatal(err)
	}
	return id
}
