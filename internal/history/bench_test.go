package history

import (
	"crypto/ecdsa"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pgtest"
)

const (
	benchRuns     = 365
	benchPartners = 1000
	// benchVersion names the cached dataset; bump it when the data or schema changes.
	benchVersion = "v3"
)

// benchDB returns the path of a database holding benchRuns nightly runs of
// benchPartners partners, built once and cached in the temp directory.
func benchDB(b *testing.B) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("mxaudit-history-bench-%s-s%d", benchVersion, SchemaVersion))
	path := filepath.Join(dir, "history.db")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp := filepath.Join(dir, "building.db")
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(f)
	}
	db, err := Open(tmp, Options{})
	if err != nil {
		b.Fatal(err)
	}
	gen := newBenchFleet()
	start := time.Now()
	for day := range benchRuns {
		res := gen.run(day)
		id, err := db.Begin(res.Inventory, res.Started)
		if err != nil {
			b.Fatal(err)
		}
		if err := db.Record(id, res); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if _, err := db.sql.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	db.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.Logf("built %d runs of %d partners in %s (%s per Record); %d bytes, %d bytes per run",
		benchRuns, benchPartners, elapsed.Round(time.Millisecond), (elapsed / benchRuns).Round(time.Millisecond), fi.Size(), fi.Size()/benchRuns)
	return path
}

// benchFleet generates nightly results: certificates renewed every 90 days
// (each partner at its own offset, one partner in ten moving to another CA),
// about 3% of partners failing on any night, Exchange-style greetings with
// the date in them for 30% of partners.
type benchFleet struct {
	cas    []*testCA
	start  time.Time
	certs  map[[2]int]audit.Cert // by partner and renewal period
	keys   map[int]*ecdsa.PrivateKey
	inter  []audit.Cert
	rng    *rand.Rand
	offset []int
}

func newBenchFleet() *benchFleet {
	f := &benchFleet{
		start: time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC),
		certs: map[[2]int]audit.Cert{},
		keys:  map[int]*ecdsa.PrivateKey{},
		rng:   rand.New(rand.NewPCG(1, 2)),
	}
	for i, n := range []string{"Public Trust RSA CA", "Public Trust ECC CA", "Contoso Issuing CA 01", "Fabrikam Root"} {
		ca := newCA(fmt.Sprintf("Bench %d", i), n)
		f.cas = append(f.cas, ca)
		f.inter = append(f.inter, audit.NewCert(ca.Cert))
	}
	for p := range benchPartners {
		f.offset = append(f.offset, p%90)
		f.keys[p] = newKey()
	}
	return f
}

func (f *benchFleet) leaf(p, period int) (audit.Cert, int) {
	ca := p % len(f.cas)
	if p%10 == 0 && period%2 == 1 {
		ca = (ca + 1) % len(f.cas)
	}
	k := [2]int{p, period}
	if c, ok := f.certs[k]; ok {
		return c, ca
	}
	notAfter := f.start.AddDate(0, 0, period*90-f.offset[p]+100)
	key := f.keys[p]
	if p%3 == 0 {
		key = nil // a new key on each renewal
	}
	c := f.cas[ca].leaf(fmt.Sprintf("mx%d.partner%d.example", p%3, p), notAfter, key)
	f.certs[k] = c
	return c, ca
}

func (f *benchFleet) run(day int) *audit.Results {
	started := f.start.AddDate(0, 0, day)
	rs := make([]audit.Result, benchPartners)
	for p := range benchPartners {
		name := fmt.Sprintf("partner%04d", p)
		period := (day + f.offset[p]) / 90
		leaf, ca := f.leaf(p, period)
		v := audit.Valid
		if f.rng.IntN(100) < 3 {
			v = []audit.Verdict{audit.Timeout, audit.UntrustedRoot, audit.NameMismatch, audit.Expired}[f.rng.IntN(4)]
		}
		src := audit.RootSystem
		if ca >= 2 {
			src = audit.RootPrivate
		}
		r := result(name, v, src, []audit.Cert{leaf, f.inter[ca]})
		r.Partner.Host = fmt.Sprintf("mx%d.partner%d.example", p%3, p)
		r.Partner.Line = p + 2
		r.DurationMS = int64(40 + f.rng.IntN(400))
		r.SMTP.TimingsMS = map[string]int64{"connect": int64(f.rng.IntN(30)), "greeting": int64(f.rng.IntN(50)),
			"ehlo": int64(f.rng.IntN(10)), "starttls": int64(f.rng.IntN(10)), "handshake": int64(f.rng.IntN(80)), "ehlo_tls": int64(f.rng.IntN(10))}
		if p%10 < 3 {
			r.SMTP.Greeting = []string{fmt.Sprintf("220 %s Microsoft ESMTP MAIL Service ready at %s", r.Host,
				started.Add(time.Duration(p)*time.Second).Format(time.RFC1123Z))}
		}
		r.SMTP.Transcript = append([]string{"S: " + r.SMTP.Greeting[0], "C: EHLO mxaudit.example"}, r.SMTP.EHLO...)
		r.SMTP.Transcript = append(r.SMTP.Transcript, "C: STARTTLS", "S: 220 2.0.0 Ready to start TLS")
		rs[p] = r
	}
	res := results("/etc/mxaudit/partners.csv", started, rs...)
	res.Finished = started.Add(3 * time.Minute)
	return res
}

func openBench(b *testing.B) *DB {
	path := benchDB(b)
	db, err := Open(path, Options{MustExist: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// reportSize reports the database size per run; call it after the loop
// (b.Loop clears metrics reported before it).
func reportSize(b *testing.B, db *DB) {
	fi, err := os.Stat(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/benchRuns, "dbbytes/run")
}

// BenchmarkDiff is "mxaudit diff" without arguments on a year of nightly runs.
func BenchmarkDiff(b *testing.B) {
	db := openBench(b)
	for b.Loop() {
		a, z, err := db.LastRuns()
		if err != nil {
			b.Fatal(err)
		}
		cs, err := db.Diff(a, z)
		if err != nil || len(cs) == 0 {
			b.Fatalf("diff %d..%d: %d changes, %v", a, z, len(cs), err)
		}
	}
	reportSize(b, db)
}

// BenchmarkSummaryQuarter is "mxaudit report --since" for the last quarter of a year of nightly runs.
func BenchmarkSummaryQuarter(b *testing.B) {
	db := openBench(b)
	until := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		s, err := db.Summary(SummaryOptions{Since: until.AddDate(0, -3, 0), Until: until})
		if err != nil || s.Runs != 92 || len(s.Partners) != benchPartners {
			b.Fatalf("summary: %d runs, %d partners, %v", s.Runs, len(s.Partners), err)
		}
	}
	reportSize(b, db)
}

// BenchmarkResults is "mxaudit report --run ID": one run of 1,000 partners loaded back.
func BenchmarkResults(b *testing.B) {
	db := openBench(b)
	for b.Loop() {
		res, err := db.Results(200)
		if err != nil || len(res.Partners) != benchPartners {
			b.Fatal(err)
		}
	}
	reportSize(b, db)
}

// BenchmarkHistory is "mxaudit history" listing every run.
func BenchmarkHistory(b *testing.B) {
	db := openBench(b)
	for b.Loop() {
		runs, err := db.Runs(RunFilter{})
		if err != nil || len(runs) != benchRuns {
			b.Fatal(err)
		}
	}
	reportSize(b, db)
}

// BenchmarkRecordAfterAYear is the nightly Record of 1,000 partners into a
// database holding a year of runs: change detection looks up the last run
// that audited each partner.
func BenchmarkRecordAfterAYear(b *testing.B) {
	src := benchDB(b)
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "history.db")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	gen := newBenchFleet()
	day := benchRuns
	for b.Loop() {
		res := gen.run(day)
		day++
		if err := db.Record(0, res); err != nil {
			b.Fatal(err)
		}
		if len(res.Changes) == 0 {
			b.Fatal("no changes computed")
		}
	}
}

// BenchmarkRecordPostgres is the nightly Record of 1,000 partners into a
// PostgreSQL database (a server of the test's own on loopback) holding a
// week of runs.
func BenchmarkRecordPostgres(b *testing.B) {
	db, err := Open(pgtest.Start(b).CreateDB(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	gen := newBenchFleet()
	day := 0
	for ; day < 7; day++ {
		if err := db.Record(0, gen.run(day)); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		res := gen.run(day)
		day++
		if err := db.Record(0, res); err != nil {
			b.Fatal(err)
		}
		if len(res.Changes) == 0 {
			b.Fatal("no changes computed")
		}
	}
}

// BenchmarkPruneYear is "history --prune --older-than 90d --vacuum" on a
// year of nightly runs (a copy of the benchmark database each time): 275
// runs and the rows only they use removed, then VACUUM.
func BenchmarkPruneYear(b *testing.B) {
	src := benchDB(b)
	cutoff := newBenchFleet().start.AddDate(0, 0, benchRuns-90)
	var rep *PruneReport
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "history.db")
		data, err := os.ReadFile(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Fatal(err)
		}
		db, err := Open(path, Options{MustExist: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err = db.Prune(PruneOptions{Before: cutoff, Vacuum: true})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64(len(rep.Runs)), "runs")
	b.ReportMetric(float64(rep.BytesFreed), "bytesfreed")
	b.ReportMetric(float64(rep.Rows["certs"]), "certs")
	b.ReportMetric(float64(rep.Rows["bodies"]), "bodies")
}
