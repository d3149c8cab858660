package history

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
	"github.com/mxaudit/mxaudit/internal/pgtest"
)

// recordStreamed records res as the pipeline does: a Recorder fed batches
// of size results (0: all at once), Prior asked before each Add. It sets
// res.Changes and returns the Prior of each batch.
func recordStreamed(t testing.TB, db *DB, res *audit.Results, size int) []Prior {
	t.Helper()
	head := *res
	head.Partners, head.Changes = nil, nil
	rec, err := db.Recorder(0, &head)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if size == 0 {
		size = max(len(res.Partners), 1)
	}
	var changes []audit.Change
	var priors []Prior
	for start := 0; start < len(res.Partners); start += size {
		batch := res.Partners[start:min(start+size, len(res.Partners))]
		p, err := rec.Prior(batch)
		if err != nil {
			t.Fatal(err)
		}
		priors = append(priors, p)
		cs, err := rec.Add(batch)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, cs...)
	}
	end, err := rec.Finish(&head)
	if err != nil {
		t.Fatal(err)
	}
	res.Changes = append(changes, end...)
	return priors
}

// changeSequences are the nights of the change tests: the fleet's three
// nights, a partner with several targets, two rows of one partner name, a
// row rejected for a night.
func changeSequences() map[string][]*audit.Results {
	out := map[string][]*audit.Results{}
	fleet := fleetRuns()
	out["fleet"] = fleet[:]
	ca := newCA("Public", "Public CA")
	far := now.AddDate(1, 0, 0)
	mx1, mx2, mx3 := ca.leaf("mx1.contoso.example", far, nil), ca.leaf("mx2.contoso.example", far, nil), ca.leaf("mx3.contoso.example", far, nil)
	mx1v6 := ca.leaf("mx1.contoso.example", far.AddDate(0, 1, 0), nil)
	fab := ca.leaf("mx.fabrikam.example", far, nil)
	night := func(d int, ts ...audit.TargetResult) *audit.Results {
		return results(inv, now.AddDate(0, 0, d), result("adatum", audit.Valid, audit.RootSystem, ca.chain(fab)), domainPartner("contoso", ts...),
			result("fabrikam", audit.Valid, audit.RootSystem, ca.chain(fab)))
	}
	out["targets"] = []*audit.Results{
		night(0, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1)),
			tgt("mx2.contoso.example", "192.0.2.2", audit.Valid, ca.chain(mx2))),
		night(2, tgt("mx1.contoso.example", "192.0.2.1", audit.Valid, ca.chain(mx1)), tgt("mx1.contoso.example", "2001:db8::1", audit.Valid, ca.chain(mx1v6)),
			tgt("mx1.contoso.example", "192.0.2.11", audit.Valid, ca.chain(mx1)), tgt("mx3.contoso.example", "192.0.2.3", audit.Expired, ca.chain(mx3))),
	}
	leaf1 := ca.leaf("mx1.contoso.example", far, nil)
	dup := func(d int, mx2 audit.Cert) *audit.Results {
		r := twoHosts(now.AddDate(0, 0, d), mx2, ca, result("fabrikam", audit.Valid, audit.RootSystem, ca.chain(fab)))
		r.Partners[0].Chain = ca.chain(leaf1)
		return r
	}
	out["duplicate names"] = []*audit.Results{dup(0, mx2), dup(1, mx2), dup(2, mx3)}
	rejected := results(inv, now.Add(24*time.Hour), fleet[0].Partners[1:]...)
	back := results(inv, now.Add(48*time.Hour), slices.Clone(fleet[0].Partners)...)
	back.Partners[0] = fleet[1].Partners[0]
	out["row back"] = []*audit.Results{fleet[0], rejected, back}
	return out
}

// TestRecorderBatches: a run recorded batch by batch gives exactly the
// changes Record gives, whatever the batch size.
func TestRecorderBatches(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		for name, nights := range changeSequences() {
			ref := openLike(t, db)
			var want [][]audit.Change
			for _, n := range nights {
				res := clone(t, n)
				if err := ref.Record(0, res); err != nil {
					t.Fatal(err)
				}
				want = append(want, res.Changes)
			}
			if len(slices.Concat(want...)) == 0 {
				t.Fatalf("%s: the reference gives no change", name)
			}
			for _, size := range []int{1, 7, 0} {
				got := openLike(t, db)
				for i, n := range nights {
					res := clone(t, n)
					recordStreamed(t, got, res, size)
					if !slices.Equal(res.Changes, want[i]) {
						t.Errorf("%s, batches of %d, night %d:\n got %q\nwant %q", name, size, i+1, kinds(res.Changes), kinds(want[i]))
					}
					if stored, err := got.Changes(int64(i + 1)); err != nil || !slices.Equal(stored, want[i]) {
						t.Errorf("%s, batches of %d, night %d: stored %q, %v", name, size, i+1, kinds(stored), err)
					}
				}
				// The run reads back as recorded, streamed and whole.
				last := clone(t, nights[len(nights)-1])
				whole, err := got.Results(int64(len(nights)))
				if err != nil || len(whole.Partners) != len(last.Partners) {
					t.Fatalf("%s: Results: %v", name, err)
				}
				i := 0
				err = got.EachResult(int64(len(nights)), func(r *audit.Result) error {
					if r.Name != last.Partners[i].Name || len(r.Targets) != len(last.Partners[i].Targets) {
						return fmt.Errorf("result %d is %q, want %q", i, r.Name, last.Partners[i].Name)
					}
					i++
					return nil
				})
				if err != nil || i != len(last.Partners) {
					t.Errorf("%s: EachResult gave %d results: %v", name, i, err)
				}
			}
		}
	})
}

// deliveryNight is a night of partner contoso with targets a and b whose
// delivery is as given ("" for a target not audited that night), started
// d days after now, from vantage point v.
func deliveryNight(d int, v string, a, b string) *audit.Results {
	var ts []audit.TargetResult
	for i, o := range []string{a, b} {
		if o == "" {
			continue
		}
		tr := tgt("mx.contoso.example", fmt.Sprintf("192.0.2.%d", i+1), audit.Valid, nil)
		tr.Delivery = &audit.Delivery{Outcome: o}
		ts = append(ts, tr)
	}
	res := results(inv, now.AddDate(0, 0, d), domainPartner("contoso", ts...))
	res.Vantage = v
	return res
}

// TestFailingSince: the streak of runs in which our MTA's delivery to a
// target did not flow is carried from run to run, and broken by a run in
// which it flowed, was undetermined, or the target was not audited.
func TestFailingSince(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		a := tgt("mx.contoso.example", "192.0.2.1", audit.Valid, nil)
		b := tgt("mx.contoso.example", "192.0.2.2", audit.Valid, nil)
		nights := []struct {
			a, b   string
			wantA  int // the night (1-based) A's streak began, as Prior says before this night; 0: none
			wantB  int
			vantge string
		}{
			{audit.Deferred, audit.Deferred, 0, 0, ""},
			{audit.Deferred, audit.Delivers, 1, 1, ""},
			{audit.Deferred, audit.Deferred, 1, 0, ""},
			{audit.Bounces, audit.Undetermined, 1, 3, ""},
			{"", audit.Deferred, 1, 0, ""},
			{audit.Deferred, audit.Deferred, 0, 5, ""},
			{audit.Deferred, audit.Deferred, 0, 0, "eu-1"}, // another vantage point: its own streaks
			{audit.DeliversUnauthenticated, audit.Deferred, 6, 5, ""},
			{audit.Deferred, audit.Deferred, 0, 5, ""},
		}
		for i, n := range nights {
			res := deliveryNight(i, n.vantge, n.a, n.b)
			priors := recordStreamed(t, db, res, 1)
			for _, c := range []struct {
				name string
				t    *audit.TargetResult
				want int
			}{{"A", &a, n.wantA}, {"B", &b, n.wantB}} {
				since, ok := priors[0].FailingSince("contoso", c.t)
				switch {
				case c.want == 0 && ok:
					t.Errorf("night %d: target %s failing since %s, want no streak", i+1, c.name, since)
				case c.want != 0 && (!ok || !since.Equal(now.AddDate(0, 0, c.want-1))):
					t.Errorf("night %d: target %s failing since %s (%v), want night %d", i+1, c.name, since, ok, c.want)
				}
			}
		}
		// Before the tenth night, B had been deferred for five days (nights
		// 5, 6, 8 and 9 from this vantage point): longer than Exchange's
		// queue lifetime, so mail to it bounces.
		p := recordStreamed(t, db, deliveryNight(len(nights), "", audit.Deferred, audit.Deferred), 0)
		since, ok := p[0].FailingSince("contoso", &b)
		if !ok || now.AddDate(0, 0, len(nights)).Sub(since) <= mtapolicy.ExchangeServerLifetime {
			t.Errorf("after three deferred nights: failing since %s (%v), want more than the queue lifetime", since, ok)
		}
	})
}

// TestMigrateV5Fixture opens a committed schema-5 database (two fleet
// nights and a partner with deferred delivery, written by the previous
// mxaudit): it becomes schema 6, reads back, carries no streak from the
// runs recorded before, and a night recorded again reports no change.
func TestMigrateV5Fixture(t *testing.T) {
	path := copyFile(t, filepath.Join("testdata", "history-v5.db"))
	if v := pragma(t, rawSQL(t, path), "user_version"); v != 5 {
		t.Fatalf("fixture is schema %d, want 5", v)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw := rawSQL(t, path)
	if v := pragma(t, raw, "user_version"); v != 6 {
		t.Errorf("user_version %d after opening, want 6", v)
	}
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM targets WHERE failing_since = 0`).Scan(&n); err != nil || n == 0 {
		t.Errorf("targets.failing_since of the runs before: %d rows at 0, %v", n, err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'results_by_partner'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("index results_by_partner: %d, %v", n, err)
	}
	raw.Close()
	night2, err := db.Results(2)
	if err != nil || len(night2.Partners) != 7 || len(night2.Changes) != 13 {
		t.Fatalf("run 2 after migrating: %v", err)
	}
	again := clone(t, night2)
	again.Started, again.Changes = again.Started.Add(24*time.Hour), nil
	priors := recordStreamed(t, db, again, 3)
	if len(again.Changes) != 0 {
		t.Errorf("night 2 recorded again: %q", kinds(again.Changes))
	}
	wood := &again.Partners[6]
	if _, ok := priors[2].FailingSince("woodgrove", &wood.Targets[1]); ok {
		t.Errorf("a streak carried from a run recorded before schema 6")
	}
	next := clone(t, again)
	next.Started = next.Started.Add(24 * time.Hour)
	priors = recordStreamed(t, db, next, 0)
	if since, ok := priors[0].FailingSince("woodgrove", &wood.Targets[1]); !ok || !since.Equal(again.Started) {
		t.Errorf("deferred target after the first schema-6 run: since %s (%v), want %s", since, ok, again.Started)
	}
}

// TestShardCountChange: the night --shard N changes, each shard still
// compares its partners with their last audit (a changed certificate is
// told), tells no partner added that was audited before, and tells the
// removal of a partner its shard holds.
func TestShardCountChange(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		if err := db.Record(0, clone(t, runs[0])); err != nil {
			t.Fatal(err)
		}
		parts := shardRuns(t, runs[1], "n2", 2)
		var all []string
		for _, p := range parts {
			recordStreamed(t, db, p, 2)
			all = append(all, kinds(p.Changes)...)
		}
		slices.Sort(all)
		want := []string{
			"adatum cert_replaced", "adatum issuer_changed", "adatum root_store_changed",
			"contoso cert_replaced", "contoso issuer_changed", "contoso key_changed", "contoso verdict_worse",
			"fabrikam verdict_worse", "litware partner_added",
			"northwind partner_removed", "tailspin root_store_changed", "tailspin verdict_recovered", "wingtip expiry_threshold",
		}
		if !slices.Equal(all, want) {
			t.Errorf("changes of the two shards:\n got %q\nwant %q", all, want)
		}
	})
}

// TestRecorderMemory records runs of 5,000 and 50,000 synthetic partners
// in batches of 256: the Go heap stays flat.
func TestRecorderMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("records 55,000 partners")
	}
	gen := synthetic(t)
	peak := func(n int) uint64 {
		db := openTest(t)
		var top uint64
		sample := func() { top = max(top, heapNow()) }
		for night := range 2 {
			recordNight(t, db, gen, n, night, sample)
			sample()
		}
		return top
	}
	small, large := peak(5000), peak(50000)
	t.Logf("peak Go heap: %d KiB for 5,000 partners, %d KiB for 50,000", small>>10, large>>10)
	if large > small*3/2+8<<20 {
		t.Errorf("heap grows with the run: %d KiB for 5,000 partners, %d KiB for 50,000", small>>10, large>>10)
	}
}

// heapNow returns the live Go heap after a collection.
func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestPostgresMigrateV5 migrates a PostgreSQL history of schema 5 to 6
// (the same step as SQLite's): the column and the index are there and
// recording works on the migrated database.
func TestPostgresMigrateV5(t *testing.T) {
	url := pgtest.Shared(t).CreateDB(t)
	raw := rawPG(t, url)
	for _, step := range pgMigrations[:5] {
		if _, err := raw.Exec(step); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`CREATE TABLE mxaudit_schema (application_id BIGINT NOT NULL, version INTEGER NOT NULL);
		INSERT INTO mxaudit_schema VALUES (1836605800, 5)`); err != nil {
		t.Fatal(err)
	}
	db, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ver, cols, idx int
	raw.QueryRow(`SELECT version FROM mxaudit_schema`).Scan(&ver)
	raw.QueryRow(`SELECT count(*) FROM information_schema.columns WHERE table_name = 'targets' AND column_name = 'failing_since'`).Scan(&cols)
	raw.QueryRow(`SELECT count(*) FROM pg_indexes WHERE indexname = 'results_by_partner'`).Scan(&idx)
	if ver != 6 || cols != 1 || idx != 1 {
		t.Errorf("after migrating: schema %d, failing_since columns %d, results_by_partner indexes %d; want 6, 1, 1", ver, cols, idx)
	}
	runs := fleetRuns()
	record(t, db, runs[0])
	recordStreamed(t, db, runs[1], 2)
	if len(runs[1].Changes) != 13 {
		t.Errorf("changes on the migrated database: %q", kinds(runs[1].Changes))
	}
}
