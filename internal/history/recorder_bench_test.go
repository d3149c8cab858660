package history

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pgtest"
)

// synthetic returns a generator of partners with two targets each, their
// certificates drawn from 16 leaves.
func synthetic(tb testing.TB) func(i int) audit.Result {
	ca := newCA("Public", "Public CA")
	leaves := make([]audit.Cert, 16)
	for i := range leaves {
		leaves[i] = ca.leaf(fmt.Sprintf("mx%d.example", i), now.AddDate(1, 0, 0), nil)
	}
	return func(i int) audit.Result {
		name := fmt.Sprintf("partner%07d", i)
		r := domainPartner(name, tgt("mx1."+name+".example", "192.0.2.1", audit.Valid, ca.chain(leaves[i%len(leaves)])),
			tgt("mx2."+name+".example", "192.0.2.2", audit.Valid, ca.chain(leaves[(i+1)%len(leaves)])))
		r.Domain, r.Line = name+".example", i+2
		return r
	}
}

// recordNight records one night of n partners from gen in batches of 256
// with a Recorder; sample is called after every 16th batch.
func recordNight(tb testing.TB, db *DB, gen func(int) audit.Result, n, night int, sample func()) int {
	head := results(inv, now.AddDate(0, 0, night))
	head.Partners = nil
	rec, err := db.Recorder(0, head)
	if err != nil {
		tb.Fatal(err)
	}
	defer rec.Close()
	batch := make([]audit.Result, 0, 256)
	changes := 0
	for i := 0; i < n; i += 256 {
		batch = batch[:0]
		for j := i; j < min(i+256, n); j++ {
			batch = append(batch, gen(j))
		}
		if _, err := rec.Prior(batch); err != nil {
			tb.Fatal(err)
		}
		cs, err := rec.Add(batch)
		if err != nil {
			tb.Fatal(err)
		}
		changes += len(cs)
		if sample != nil && (i/256)%16 == 0 {
			sample()
		}
	}
	cs, err := rec.Finish(head)
	if err != nil {
		tb.Fatal(err)
	}
	return changes + len(cs)
}

// benchPartnersStreamed is the size of the streamed benchmarks' runs
// (MXAUDIT_BENCH_PARTNERS, 100,000 by default).
func benchPartnersStreamed() int {
	if n, err := strconv.Atoi(os.Getenv("MXAUDIT_BENCH_PARTNERS")); err == nil && n > 0 {
		return n
	}
	return 100000
}

// BenchmarkRecordStreamed records a night of 100,000 partners in batches
// of 256 into an SQLite database holding the night before.
func BenchmarkRecordStreamed(b *testing.B) {
	db := openTestB(b)
	benchStreamed(b, db)
}

// BenchmarkRecordStreamedPostgres is BenchmarkRecordStreamed on PostgreSQL.
func BenchmarkRecordStreamedPostgres(b *testing.B) {
	db, err := Open(pgtest.Start(b).CreateDB(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchStreamed(b, db)
}

func benchStreamed(b *testing.B, db *DB) {
	n := benchPartnersStreamed()
	gen := synthetic(b)
	recordNight(b, db, gen, n, 0, nil)
	night := 1
	for b.Loop() {
		recordNight(b, db, gen, n, night, nil)
		night++
	}
	b.ReportMetric(float64(n), "partners")
}

func openTestB(b *testing.B) *DB {
	db, err := Open(b.TempDir()+"/history.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}
