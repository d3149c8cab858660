package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pgtest"
)

// day is the start of the night n days after now.
func day(n int) time.Time { return now.AddDate(0, 0, n) }

// pruneFixture records, on db: run 1 (day 0) contoso and northwind; run 2
// (day 1) begun and never recorded (a scan that died); run 3 (day 2)
// contoso alone; run 4 (day 3) contoso from vantage eu-1; run 5 (day 4)
// contoso. Contoso has one certificate throughout; northwind's leaf and its
// CA are referenced by run 1 only.
type pruneFixture struct {
	oldCA, pub *testCA
	contoso    []audit.Cert
}

func newPruneFixture(t *testing.T, db *DB) *pruneFixture {
	t.Helper()
	f := &pruneFixture{oldCA: newCA("Contoso Ltd", "Contoso Issuing CA 01"), pub: newCA("Public Trust", "Public Trust RSA CA")}
	f.contoso = f.oldCA.chain(f.oldCA.leaf("mx.contoso.example", now.AddDate(1, 0, 0), nil))
	north := f.pub.chain(f.pub.leaf("mx.northwind.example", now.AddDate(1, 0, 0), nil))
	contoso := func() audit.Result { return result("contoso", audit.Valid, audit.RootSystem, f.contoso) }
	record(t, db, results(inv, day(0), contoso(), result("northwind", audit.Valid, audit.RootSystem, north)))
	if _, err := db.Begin(inv, day(1)); err != nil {
		t.Fatal(err)
	}
	record(t, db, results(inv, day(2), contoso()))
	eu := results(inv, day(3), contoso())
	eu.Vantage = "eu-1"
	if err := db.Record(0, eu); err != nil {
		t.Fatal(err)
	}
	record(t, db, results(inv, day(4), contoso()))
	return f
}

// tableRows counts the rows of every table Prune touches.
func tableRows(t *testing.T, db *DB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, table := range []string{"runs", "results", "targets", "changes", "certs", "partners", "bodies"} {
		var n int64
		if err := db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// hasCert reports whether the certificate c is stored.
func hasCert(t *testing.T, db *DB, c audit.Cert) bool {
	t.Helper()
	var n int
	if err := db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM certs WHERE sha256 = ?`, certSHA(&c)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name          string
		before        time.Time
		removed, kept []int64
		// rows left after the prune
		runs, certs, partners, bodies int64
	}{
		{name: "cutoff before every run", before: day(0), removed: []int64{}, kept: []int64{}, runs: 5, certs: 4, partners: 2, bodies: 2},
		{name: "cutoff between runs", before: day(2), removed: []int64{1, 2}, kept: []int64{}, runs: 3, certs: 2, partners: 1, bodies: 1},
		{name: "cutoff after every run keeps each scope's latest", before: day(30), removed: []int64{1, 2, 3}, kept: []int64{4, 5}, runs: 2, certs: 2, partners: 1, bodies: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, db *DB) {
				f := newPruneFixture(t, db)
				rep, err := db.Prune(PruneOptions{Before: tc.before})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(rep.Runs, tc.removed) || !slices.Equal(rep.Kept, tc.kept) {
					t.Errorf("removed %v kept %v, want removed %v kept %v", rep.Runs, rep.Kept, tc.removed, tc.kept)
				}
				rows := tableRows(t, db)
				got := [4]int64{rows["runs"], rows["certs"], rows["partners"], rows["bodies"]}
				if want := [4]int64{tc.runs, tc.certs, tc.partners, tc.bodies}; got != want {
					t.Errorf("runs, certs, partners, bodies left: %v, want %v", got, want)
				}
				if rep.Rows["runs"] != int64(len(tc.removed)) {
					t.Errorf("report says %d runs removed, want %d", rep.Rows["runs"], len(tc.removed))
				}
				for _, c := range f.contoso {
					if !hasCert(t, db, c) {
						t.Errorf("certificate %s of the kept runs was removed", c.Subject)
					}
				}
				if _, err := db.Check(false); err != nil {
					t.Errorf("check after pruning: %v", err)
				}
				// The latest run reads back whole: its chain's CA is
				// named by SHA-256 in the stored body only.
				res, err := db.Results(5)
				if err != nil {
					t.Fatal(err)
				}
				if ch := res.Partners[0].Chain; len(ch) != 2 || !bytes.Equal(ch[1].DER, f.contoso[1].DER) {
					t.Errorf("run 5's chain after pruning: %d certificates, CA DER kept %v", len(ch), len(ch) == 2 && len(ch[1].DER) > 0)
				}
			})
		})
	}
}

func TestPruneThenRecord(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		f := newPruneFixture(t, db)
		if _, err := db.Prune(PruneOptions{Before: day(30)}); err != nil {
			t.Fatal(err)
		}
		if hasCert(t, db, audit.NewCert(f.pub.Cert)) {
			t.Error("northwind's CA, referenced by run 1 only, is still stored")
		}
		newCAx := newCA("Contoso Ltd.", "Contoso Issuing CA 02")
		next := results(inv, day(31), result("contoso", audit.Valid, audit.RootSystem, newCAx.chain(newCAx.leaf("mx.contoso.example", now.AddDate(2, 0, 0), nil))))
		id := record(t, db, next)
		want := []string{"contoso cert_replaced", "contoso issuer_changed", "contoso key_changed"}
		if got := kinds(next.Changes); !slices.Equal(got, want) {
			t.Errorf("run %d after pruning: changes %q, want %q", id, got, want)
		}
		for _, c := range next.Changes {
			if c.SinceRun != 5 {
				t.Errorf("%s %s since run %d, want the kept baseline 5", c.Partner, c.Kind, c.SinceRun)
			}
		}
	})
}

func TestPruneDryRun(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		newPruneFixture(t, db)
		before := tableRows(t, db)
		dry, err := db.Prune(PruneOptions{Before: day(30), DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if after := tableRows(t, db); !maps.Equal(before, after) {
			t.Errorf("dry run changed the database: %v, was %v", after, before)
		}
		real, err := db.Prune(PruneOptions{Before: day(30)})
		if err != nil {
			t.Fatal(err)
		}
		if !dry.DryRun || real.DryRun || !slices.Equal(dry.Runs, real.Runs) || !maps.Equal(dry.Rows, real.Rows) {
			t.Errorf("dry run said %v %v, the prune did %v %v", dry.Runs, dry.Rows, real.Runs, real.Rows)
		}
		for table, n := range real.Rows {
			if got := before[table] - tableRows(t, db)[table]; got != n {
				t.Errorf("%s: report says %d removed, %d were", table, n, got)
			}
		}
	})
}

func TestPruneVacuum(t *testing.T) {
	db := openTest(t)
	ca := newCA("Bulk", "Bulk CA")
	var rs []audit.Result
	for i := range 300 {
		name := fmt.Sprintf("p%03d", i)
		rs = append(rs, result(name, audit.Valid, audit.RootSystem, ca.chain(ca.leaf("mx."+name+".example", now.AddDate(1, 0, 0), nil))))
	}
	record(t, db, results(inv, day(0), rs...))
	record(t, db, results(inv, day(1), rs[0]))
	rep, err := db.Prune(PruneOptions{Before: day(1), Vacuum: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows["certs"] != 299 || rep.BytesFreed < 100*1024 {
		t.Errorf("removed %d certificates, VACUUM freed %d bytes; want 299 and over 100 KiB", rep.Rows["certs"], rep.BytesFreed)
	}
	if _, err := db.Check(false); err != nil {
		t.Errorf("check after VACUUM: %v", err)
	}
}

// TestPruneLocked: a prune waits for no scan. On SQLite the scan's file lock
// refuses it (the CLI takes it with TryLock); on PostgreSQL a run being
// recorded does.
func TestPruneLocked(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "history.db")
		scan, err := TryLock(path)
		if err != nil {
			t.Fatal(err)
		}
		defer scan.Release()
		var le *LockedError
		if _, err := TryLock(path); !errors.As(err, &le) {
			t.Errorf("prune's lock while a scan holds it: %v, want a *LockedError", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.Shared(t).CreateDB(t)
		scanner, err := Open(url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer scanner.Close()
		rec, err := scanner.Recorder(0, results(inv, day(0)))
		if err != nil {
			t.Fatal(err)
		}
		pruner, err := Open(url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer pruner.Close()
		var le *LockedError
		if _, err := pruner.Prune(PruneOptions{Before: day(30)}); !errors.As(err, &le) || le.Holder == "" {
			t.Errorf("prune while a scan records: %v, want a *LockedError naming the holder", err)
		}
		if _, err := rec.Finish(results(inv, day(0))); err != nil {
			t.Fatal(err)
		}
		if _, err := pruner.Prune(PruneOptions{Before: day(30)}); err != nil {
			t.Errorf("prune once the scan recorded: %v", err)
		}
	})
}

func TestParseCutoff(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Time
		err      bool
	}{
		{name: "days", in: "90d", want: at.AddDate(0, 0, -90)},
		{name: "one day", in: "1d", want: at.AddDate(0, 0, -1)},
		{name: "date", in: "2026-06-30", want: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)},
		{name: "zero days", in: "0d", want: at},
		{name: "negative days", in: "-5d", err: true},
		{name: "no unit", in: "90", err: true},
		{name: "hours", in: "90h", err: true},
		{name: "future date", in: "2027-01-01", err: true},
		{name: "empty", in: "", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCutoff(tc.in, at)
			if (err != nil) != tc.err || !got.Equal(tc.want) {
				t.Errorf("ParseCutoff(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestPruneReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, db, results(inv, day(0), result("contoso", audit.Valid, audit.RootSystem, nil)))
	db.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Prune(PruneOptions{Before: day(30)}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("prune of a database opened read-only: %v, want ErrReadOnly", err)
	}
}
