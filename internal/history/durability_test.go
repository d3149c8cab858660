package history

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/internal/pgtest"
)

const childEnv = "MXAUDIT_HISTORY_TEST_CHILD_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		os.Exit(childRecord(path))
	}
	if path := os.Getenv(childReadOnlyEnv); path != "" {
		os.Exit(childReadOnly(path))
	}
	if url := os.Getenv(childPGEnv); url != "" {
		os.Exit(childPGRecord(url))
	}
	os.Exit(pgtest.Main(m))
}

// childRecord is the subprocess of TestKillMidRecord: it takes the lock,
// begins run 2 and stops inside Record's transaction, after every result
// is written, until it is killed.
func childRecord(path string) int {
	lock, err := TryLock(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer lock.Release()
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res := fleetRuns()[1]
	id, err := db.Begin(res.Inventory, res.Started)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	recordHook = func() {
		fmt.Printf("recording run %d\n", id)
		select {} // wait for SIGKILL
	}
	err = db.Record(id, res)
	fmt.Fprintln(os.Stderr, "Record returned:", err)
	return 1
}

// rawSQL opens path with database/sql directly, bypassing migrations.
func rawSQL(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func pragma(t *testing.T, db *sql.DB, name string) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// schemaOf returns the DDL of every table and index in db, sorted.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name`)
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

func TestOpenEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "mxaudit", "history.db")
	if _, err := Open(path, Options{MustExist: true}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("MustExist on a missing file: %v", err)
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := rawSQL(t, path)
	if v := pragma(t, raw, "user_version"); v != SchemaVersion || SchemaVersion != len(migrations) {
		t.Errorf("user_version %d, SchemaVersion %d, %d migrations", v, SchemaVersion, len(migrations))
	}
	if a := pragma(t, raw, "application_id"); a != applicationID {
		t.Errorf("application_id %#x", a)
	}
	var mode string
	raw.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
	// Opening again is a no-op.
	db, err = Open(path, Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestMigrateFromV1 builds a schema-1 database holding one run (a current
// database with the schema-2 step undone, checked to equal a database built
// by migration 1 alone), then opens it with this binary.
func TestMigrateFromV1(t *testing.T) {
	dir := t.TempDir()
	v1only := rawSQL(t, filepath.Join(dir, "v1only.db"))
	if _, err := v1only.Exec(migrations[0]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "history.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runs := fleetRuns()
	record(t, db, runs[0])
	db.Close()
	raw := rawSQL(t, path)
	if _, err := raw.Exec(`DROP INDEX results_by_partner; DROP INDEX results_by_body; DROP INDEX results_by_leaf; DROP TABLE targets; DROP INDEX runs_by_scope; DROP INDEX runs_by_label; ALTER TABLE runs DROP COLUMN vantage;
		ALTER TABLE runs DROP COLUMN label; ALTER TABLE runs DROP COLUMN shard; ALTER TABLE runs DROP COLUMN shards;
		DROP INDEX partners_by_key; ALTER TABLE partners DROP COLUMN target; ALTER TABLE runs DROP COLUMN audited;
		DROP TABLE changes; PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	if got, want := schemaOf(t, raw), schemaOf(t, v1only); !slices.Equal(got, want) {
		t.Fatalf("the test's v1 database is not schema 1:\n got %q\nwant %q", got, want)
	}
	raw.Close()

	db, err = Open(path, Options{MustExist: true})
	if err != nil {
		t.Fatalf("opening a v1 database: %v", err)
	}
	defer db.Close()
	old, err := db.Results(1)
	if err != nil || len(old.Partners) != len(runs[0].Partners) || len(old.Changes) != 0 {
		t.Fatalf("run 1 after migration: %v", err)
	}
	record(t, db, runs[1])
	if len(runs[1].Changes) != 13 {
		t.Errorf("changes against the migrated run: %q", kinds(runs[1].Changes))
	}
	if v := pragma(t, rawSQL(t, path), "user_version"); v != SchemaVersion {
		t.Errorf("user_version after migration %d", v)
	}
}

func TestRefuseNewerOrForeign(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	db, err := Open(newer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := rawSQL(t, newer)
	if _, err := raw.Exec(fmt.Sprintf(`PRAGMA user_version = %d; CREATE TABLE from_the_future (x)`, SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before, _ := os.ReadFile(newer)
	_, err = Open(newer, Options{})
	var tooNew *SchemaTooNewError
	if !errors.As(err, &tooNew) || tooNew.Have != SchemaVersion+1 || tooNew.Known != SchemaVersion {
		t.Fatalf("Open of a newer database: %v", err)
	}
	if !strings.Contains(err.Error(), "use a newer mxaudit") {
		t.Errorf("message: %v", err)
	}
	if after, _ := os.ReadFile(newer); string(after) != string(before) {
		t.Error("Open rewrote a newer database")
	}

	foreign := filepath.Join(dir, "other.db")
	if _, err := rawSQL(t, foreign).Exec(`CREATE TABLE mail (x)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(foreign, Options{}); !errors.Is(err, ErrNotHistory) {
		t.Errorf("Open of another application's database: %v", err)
	}
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	first, err := TryLock(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryLock(path)
	var locked *LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() || locked.Path != path+".lock" {
		t.Fatalf("second TryLock: %v", err)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	again, err := TryLock(path)
	if err != nil {
		t.Fatalf("TryLock after Release: %v", err)
	}
	again.Release()
}

// TestKillMidRecord kills (SIGKILL) a process inside Record's transaction,
// then checks the database: the previous run is intact, the killed run has
// no results and is marked interrupted by the next scan, whose changes are
// against the last complete run.
func TestKillMidRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runs := fleetRuns()
	record(t, db, runs[0])
	db.Close()

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
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
	if err != nil || line != "recording run 2\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v); stderr: %s", line, err, stderr.String())
	}
	// The child holds the lock while recording.
	if _, err := TryLock(path); err == nil {
		t.Error("TryLock succeeded while the child holds the lock")
	}
	cmd.Process.Kill()
	cmd.Wait()

	lock, err := TryLock(path)
	if err != nil {
		t.Fatalf("lock after the kill: %v", err)
	}
	defer lock.Release()
	db, err = Open(path, Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.sql.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	var n int
	db.sql.QueryRow(`SELECT count(*) FROM results WHERE run_id = 2`).Scan(&n)
	if n != 0 {
		t.Errorf("the killed run left %d results", n)
	}
	if _, err := db.Results(2); !errors.Is(err, ErrNoRun) {
		t.Errorf("Results of the killed run: %v", err)
	}
	if r1, err := db.Results(1); err != nil || len(r1.Partners) != 6 {
		t.Fatalf("run 1 after the kill: %v", err)
	}

	// The next scan.
	next := runs[1]
	next.Started = next.Started.Add(time.Hour)
	id := record(t, db, next)
	if id != 3 || len(next.Changes) != 13 || next.Changes[0].SinceRun != 1 {
		t.Errorf("run %d after the kill: %d changes since run %d", id, len(next.Changes), next.Changes[0].SinceRun)
	}
	list, err := db.Runs(RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, fmt.Sprintf("%d %s", r.ID, r.Status))
	}
	if want := []string{"1 complete", "2 interrupted", "3 complete"}; !slices.Equal(got, want) {
		t.Errorf("history after the kill: %q, want %q", got, want)
	}
}

// TestConcurrentScans runs two would-be scans of one database at once:
// exactly one gets the lock.
func TestConcurrentScans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	start := make(chan struct{})
	type outcome struct {
		lock *Lock
		err  error
	}
	results := make(chan outcome, 2)
	for range 2 {
		go func() {
			<-start
			l, err := TryLock(path)
			results <- outcome{l, err}
		}()
	}
	close(start)
	var won, lost int
	var locks []*Lock
	for range 2 {
		o := <-results
		var le *LockedError
		switch {
		case o.err == nil:
			won++
			locks = append(locks, o.lock)
		case errors.As(o.err, &le):
			lost++
		default:
			t.Errorf("TryLock: %v", o.err)
		}
	}
	for _, l := range locks {
		l.Release()
	}
	if won != 1 || lost != 1 {
		t.Errorf("%d scans got the lock, %d were refused; want 1 and 1", won, lost)
	}
}
