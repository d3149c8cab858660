package history

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the raw connections of these tests

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pgtest"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// rawPG opens url with database/sql directly, bypassing migrations.
func rawPG(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pgTables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		rows.Scan(&s)
		out = append(out, s)
	}
	return out
}

// TestPostgresMigrations migrates a database step by step from schema 2
// (holding a run recorded by hand as that schema's mxaudit would have) and
// checks the data survives, migration 3's targets are computed as on
// SQLite, opening again changes nothing, and databases that are not ours
// or are newer are refused and left alone.
func TestPostgresMigrations(t *testing.T) {
	srv := pgtest.Shared(t)
	ctx := context.Background()
	url := srv.CreateDB(t)
	raw := rawPG(t, url)
	for _, step := range pgMigrations[:2] {
		if _, err := raw.Exec(step); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`CREATE TABLE mxaudit_schema (application_id BIGINT NOT NULL, version INTEGER NOT NULL);
		INSERT INTO mxaudit_schema VALUES (1836605800, 2);
		INSERT INTO runs (inventory, started, status, partners) VALUES ('/inv.csv', 1, 'complete', 2);
		INSERT INTO partners (sha256, name, enforced, doc) VALUES
			('\x01', 'a', true, convert_to('{"partner":"a","host":"mx.a.example","port":25,"address":""}', 'UTF8')),
			('\x02', 'b', false, convert_to('{"partner":"b","host":"mx.b.example","port":2525,"address":"127.0.0.2:2525"}', 'UTF8'));
		INSERT INTO bodies (sha256, doc) VALUES ('\x03', '\x00');
		INSERT INTO results (run_id, seq, partner_id, verdict, root_source, body_id, duration_ms) VALUES
			(1, 0, 1, 'Valid', 'system', 1, 5), (1, 1, 2, 'NotProbed', 'none', 1, 0)`); err != nil {
		t.Fatal(err)
	}
	db, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ver int
	raw.QueryRow(`SELECT version FROM mxaudit_schema`).Scan(&ver)
	if ver != SchemaVersion {
		t.Errorf("schema version %d after migrating, want %d", ver, SchemaVersion)
	}
	var targets []string
	rows, err := raw.Query(`SELECT target FROM partners ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		targets = append(targets, s)
	}
	rows.Close()
	if want := []string{"mx.a.example:25", "mx.b.example:2525 via 127.0.0.2:2525"}; !slices.Equal(targets, want) {
		t.Errorf("migration 3 targets %q, want %q (targetOf)", targets, want)
	}
	var audited int
	raw.QueryRow(`SELECT audited FROM runs WHERE id = 1`).Scan(&audited)
	if audited != 1 {
		t.Errorf("run 1 audited %d, want 1", audited)
	}
	runs, err := db.Runs(RunFilter{})
	if err != nil || len(runs) != 1 || runs[0].Vantage != "" || runs[0].Shard != "" {
		t.Errorf("the migrated run: %+v %v", runs, err)
	}
	db.Close()
	before := pgTables(t, raw)
	if want := []string{"bodies", "certs", "changes", "mxaudit_schema", "partners", "results", "runs", "targets"}; !slices.Equal(before, want) {
		t.Errorf("tables %q, want %q", before, want)
	}
	if db, err = Open(url, Options{MustExist: true}); err != nil {
		t.Fatalf("opening again: %v", err)
	}
	db.Close()

	// Refused: another application's database, a newer schema, and (for
	// the commands that only read) a database without a history.
	foreign := srv.CreateDB(t)
	if _, err := rawPG(t, foreign).Exec(`CREATE TABLE invoices (id int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(foreign, Options{}); !errors.Is(err, ErrNotHistory) {
		t.Errorf("another application's database: %v", err)
	}
	if got := pgTables(t, rawPG(t, foreign)); !slices.Equal(got, []string{"invoices"}) {
		t.Errorf("the foreign database was changed: %q", got)
	}
	if _, err := raw.Exec(`UPDATE mxaudit_schema SET version = 99`); err != nil {
		t.Fatal(err)
	}
	var tooNew *SchemaTooNewError
	if _, err := Open(url, Options{}); !errors.As(err, &tooNew) || tooNew.Have != 99 {
		t.Errorf("a newer schema: %v", err)
	}
	raw.ExecContext(ctx, `UPDATE mxaudit_schema SET version = $1`, SchemaVersion)
	empty := srv.CreateDB(t)
	if _, err := Open(empty, Options{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading an empty database: %v", err)
	}
	if _, err := Open(empty, Options{MustExist: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MustExist on an empty database: %v", err)
	}
	if got := pgTables(t, rawPG(t, empty)); len(got) != 0 {
		t.Errorf("opening an empty database to read created %q", got)
	}
}

// TestPostgresReadOnlyAndSecrets opens a history read-only (nothing can be
// written) and checks that no message or path carries the password.
func TestPostgresReadOnlyAndSecrets(t *testing.T) {
	srv := pgtest.Shared(t)
	url := srv.CreateDB(t)
	db, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, db, fleetRuns()[0])
	db.Close()
	ro, err := Open(url, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Begin("/x.csv", now); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Begin on a read-only open: %v", err)
	}
	if rep, err := ro.Check(false); err != nil || rep.Runs != 1 || rep.Schema != SchemaVersion {
		t.Errorf("Check: %+v %v", rep, err)
	}
	pw := srv.Password()
	wrong := strings.Replace(url, pw, pw+"x", 1)
	_, err = Open(wrong, Options{})
	for _, s := range []string{ro.Path(), fmt.Sprint(err), Redact(url + "&password=" + pw)} {
		if strings.Contains(s, pw) {
			t.Errorf("the password shows in %q", s)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("a wrong password: %v", err)
	}
	if !strings.Contains(ro.Path(), "postgres://mxaudit@127.0.0.1:") {
		t.Errorf("path %q", ro.Path())
	}
	var timeout, app string
	ro.c().QueryRowContext(context.Background(), `SELECT current_setting('statement_timeout'), current_setting('application_name')`).Scan(&timeout, &app)
	if timeout != "10min" || app != ApplicationName() {
		t.Errorf("session: statement_timeout %q, application_name %q", timeout, app)
	}
}

// bigRun is a night of n partners sharing four CAs and, by pairs, leaf
// certificates, so that scanners writing at once insert the same
// certificates and bodies.
func bigRun(n int, started time.Time, cas []*testCA, leaves []audit.Cert) *audit.Results {
	rs := make([]audit.Result, n)
	for p := range n {
		name := fmt.Sprintf("partner%04d", p)
		ca := cas[p%len(cas)]
		r := result(name, audit.Valid, audit.RootSystem, ca.chain(leaves[p/2]))
		r.Partner.Domain = fmt.Sprintf("d%d.example", p/2)
		r.Partner.Line = p + 2
		rs[p] = r
	}
	return results("/etc/mxaudit/partners.csv", started, rs...)
}

// TestPostgresConcurrentScanners runs four scanners at once against one
// database, two vantage points times two shards, for two nights; on the
// second night one partner fails from us-east only. Every run is
// recorded, changes are per vantage point, the two labels are whole, a
// second scan of a scope that is running is refused naming its holder, and
// the database checks clean with each certificate stored once.
func TestPostgresConcurrentScanners(t *testing.T) {
	url := pgtest.Shared(t).CreateDB(t)
	const n = 300
	cas := []*testCA{newCA("A", "A CA"), newCA("B", "B CA"), newCA("C", "C CA"), newCA("D", "D CA")}
	var leaves []audit.Cert
	for i := range n / 2 {
		leaves = append(leaves, cas[i%4].leaf(fmt.Sprintf("mx.d%d.example", i), now.AddDate(1, 0, 0), nil))
	}
	type scanner struct {
		vantage string
		sp      shard.Spec
	}
	var scanners []scanner
	for _, v := range []string{"eu-1", "us-east"} {
		for k := range 2 {
			scanners = append(scanners, scanner{v, shard.Spec{K: k, N: 2}})
		}
	}
	failing := "partner0007"
	changes := make([][]audit.Change, len(scanners))
	for nightNo := range 2 {
		label := fmt.Sprintf("night-%d", nightNo)
		whole := bigRun(n, now.Add(time.Duration(nightNo)*time.Hour), cas, leaves)
		var wg sync.WaitGroup
		errs := make([]error, len(scanners))
		for i, sc := range scanners {
			wg.Go(func() {
				res := clone(t, whole)
				res.Vantage, res.RunLabel, res.Shard = sc.vantage, label, sc.sp.String()
				res.Partners = slices.DeleteFunc(res.Partners, func(r audit.Result) bool { return !sc.sp.Holds(r.Partner) })
				if sc.vantage == "us-east" { // the same certificates as eu-1 in the other order
					slices.Reverse(res.Partners)
				}
				for j := range res.Partners {
					if r := &res.Partners[j]; nightNo == 1 && sc.vantage == "us-east" && r.Name == failing {
						r.Verdict, r.Verdicts, r.Chain, r.Root.Store = audit.Timeout, []audit.Verdict{audit.Timeout}, nil, audit.RootNone
					}
				}
				errs[i] = scan(url, res)
				changes[i] = res.Changes
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("night %d, scanner %d: %v", nightNo, i, err)
			}
		}
	}
	for i, sc := range scanners {
		var got []string
		for _, c := range changes[i] {
			got = append(got, c.Partner+" "+c.Kind)
		}
		var want []string
		if sc.vantage == "us-east" && sc.sp.Holds(audit.Partner{Name: failing, Domain: "d3.example"}) {
			want = []string{failing + " verdict_worse"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s shard %s, second night: %q, want %q", sc.vantage, sc.sp, got, want)
		}
	}

	db, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, label := range []string{"night-0", "night-1"} {
		st, err := db.Label(label)
		if err != nil || len(st.Parts) != 4 || len(st.Missing()) != 0 {
			t.Fatalf("label %s: %+v %v", label, st, err)
		}
		for _, v := range []string{"eu-1", "us-east"} {
			m, err := db.LabelResults(st, v)
			if err != nil || len(m.Partners) != n || m.Partners[0].Name != "partner0000" || m.Partners[n-1].Line != n+1 {
				t.Fatalf("label %s from %s put together: %v", label, v, err)
			}
		}
	}
	var certs, distinct int
	db.c().QueryRowContext(context.Background(), `SELECT count(*), count(DISTINCT sha256) FROM certs`).Scan(&certs, &distinct)
	if certs != n/2+4 || distinct != certs {
		t.Errorf("%d certificates stored (%d distinct), want %d", certs, distinct, n/2+4)
	}
	if n := recordRetries.Load(); n != 0 {
		t.Errorf("%d recordings were run again after a deadlock; concurrent scanners must not deadlock", n)
	}
	if rep, err := db.Check(false); err != nil || rep.Runs != 8 {
		t.Errorf("check: %+v %v", rep, err)
	}

	// A second scan of a scope that is running is refused; another scope is not.
	scope := Scope{Inventory: "/etc/mxaudit/partners.csv", Vantage: "eu-1", Shard: shard.Spec{K: 0, N: 2}}
	db1, lock, err := Acquire(url, scope, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db1.Close()
	_, _, err = Acquire(url, scope, Options{})
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(le.Holder, fmt.Sprintf("mxaudit pid %d", os.Getpid())) || !strings.Contains(err.Error(), "shard 0/2") {
		t.Errorf("a second scan of a running scope: %v", err)
	}
	other := scope
	other.Shard.K = 1
	db2, lock2, err := Acquire(url, other, Options{})
	if err != nil {
		t.Errorf("another shard while one runs: %v", err)
	} else {
		lock2.Release()
		db2.Close()
	}
	if err := lock.Release(); err != nil {
		t.Fatal(err)
	}
	db3, lock3, err := Acquire(url, scope, Options{})
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	lock3.Release()
	db3.Close()
}

// scan is one scanner's night: the lock of its scope, its run begun and recorded.
func scan(url string, res *audit.Results) error {
	m, err := metaOf(res)
	if err != nil {
		return err
	}
	db, lock, err := Acquire(url, m.Scope, Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	defer lock.Release()
	id, err := db.BeginRun(m)
	if err != nil {
		return err
	}
	return db.Record(id, res)
}

const childPGEnv = "MXAUDIT_HISTORY_TEST_CHILD_PG"

// childPGRecord is the subprocess of TestPostgresKillShard: it scans shard
// 1/2 of run label "kill" from its lock to inside Record's transaction,
// every result written, and waits there to be killed.
func childPGRecord(url string) int {
	res := clone(nil, fleetRuns()[0])
	parts := shardRuns(nil, res, "kill", 2)
	m, err := metaOf(parts[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	db, lock, err := Acquire(url, m.Scope, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer lock.Release()
	id, err := db.BeginRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	recordHook = func() {
		fmt.Printf("recording run %d\n", id)
		select {} // wait for SIGKILL
	}
	fmt.Fprintln(os.Stderr, "Record returned:", db.Record(id, parts[1]))
	return 1
}

// TestPostgresKillShard kills (SIGKILL) the scanner of shard 1/2 inside
// Record's transaction while shard 0/2 is recorded: the killed run leaves
// no results, the server frees its lock, the label names it interrupted,
// and running the shard again completes the label.
func TestPostgresKillShard(t *testing.T) {
	url := pgtest.Shared(t).CreateDB(t)
	db, err := Open(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childPGEnv+"="+url)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	var killed int64
	if _, serr := fmt.Sscanf(line, "recording run %d\n", &killed); err != nil || serr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v); stderr: %s", line, err, stderr.String())
	}
	parts := shardRuns(t, fleetRuns()[0], "kill", 2)
	if err := scan(url, parts[0]); err != nil { // the other shard, while shard 1 is inside its transaction
		t.Fatal(err)
	}
	st, err := db.Label("kill")
	if err != nil || st.Parts[1].Status != StatusRunning {
		t.Fatalf("while the child records: %+v %v", st, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err = db.Label("kill")
		if err != nil {
			t.Fatal(err)
		}
		if st.Parts[1].Status == StatusInterrupted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed shard is still %s", st.Parts[1].Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	db.c().QueryRowContext(context.Background(), `SELECT count(*) FROM results WHERE run_id = ?`, killed).Scan(&n)
	if n != 0 {
		t.Errorf("the killed run left %d results", n)
	}
	if _, err := db.LabelResults(st, ""); !errors.Is(err, ErrLabelIncomplete) || !strings.Contains(err.Error(), "shard 1/2 (interrupted)") {
		t.Errorf("label with the killed shard: %v", err)
	}
	if err := scan(url, parts[1]); err != nil {
		t.Fatalf("shard 1 again: %v", err)
	}
	st, err = db.Label("kill")
	if err != nil || len(st.Missing()) != 0 {
		t.Fatalf("label after shard 1 ran again: %+v %v", st, err)
	}
	m, err := db.LabelResults(st, "")
	if err != nil || !slices.Equal(names(m), names(fleetRuns()[0])) {
		t.Errorf("label put together: %v %v", m, err)
	}
	if r, err := db.Run(killed); err != nil || r.Status != StatusInterrupted {
		t.Errorf("the killed run: %+v %v", r, err)
	}
	if rep, err := db.Check(false); err != nil {
		t.Errorf("check after the kill: %+v %v", rep, err)
	}
}
