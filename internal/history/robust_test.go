package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// copyFile copies src to a new file in a temporary folder and returns its path.
func copyFile(t *testing.T, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// fixtureV2 is testdata/history-v2.db, written by the schema-2 mxaudit:
// the three fleetRuns of /etc/mxaudit/partners.csv and a fourth run where
// contoso lists a second MX host (mx2.contoso.example via 192.0.2.7).
const fixtureV2 = "testdata/history-v2.db"

var fixtureV2Partners = []int{6, 6, 6, 7}

// TestMigrateV2Fixture migrates a database the previous release wrote:
// every run survives with every result, each stored row gets the key
// targetOf gives it, and the next run of the same partners (one of them
// listed twice) reports no change.
func TestMigrateV2Fixture(t *testing.T) {
	path := copyFile(t, fixtureV2)
	if v := pragma(t, rawSQL(t, path), "user_version"); v != 2 {
		t.Fatalf("fixture has schema %d, want 2", v)
	}
	db, err := Open(path, Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, err := db.Runs(RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != len(fixtureV2Partners) {
		t.Fatalf("%d runs after migration, want %d", len(runs), len(fixtureV2Partners))
	}
	for i, r := range runs {
		res, err := db.Results(r.ID)
		if err != nil {
			t.Fatalf("run %d after migration: %v", r.ID, err)
		}
		if r.Status != StatusComplete || r.Partners != fixtureV2Partners[i] || len(res.Partners) != fixtureV2Partners[i] {
			t.Errorf("run %d: %s, %d partners listed, %d loaded; want complete, %d", r.ID, r.Status, r.Partners, len(res.Partners), fixtureV2Partners[i])
		}
	}
	// The SQL of migration 3 keyed every stored row as targetOf does.
	rows, err := db.sql.Query(`SELECT name, target, doc FROM partners`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var name, target string
		var doc []byte
		rows.Scan(&name, &target, &doc)
		var p audit.Partner
		if err := json.Unmarshal(doc, &p); err != nil {
			t.Fatal(err)
		}
		if want := targetOf(p); target != want {
			t.Errorf("partner %s: migrated target %q, targetOf %q", name, target, want)
		}
		n++
	}
	rows.Close()
	if n < 8 {
		t.Errorf("only %d partner rows in the fixture", n)
	}
	var audited []int
	arows, _ := db.sql.Query(`SELECT audited FROM runs ORDER BY id`)
	for arows.Next() {
		var a int
		arows.Scan(&a)
		audited = append(audited, a)
	}
	arows.Close()
	if !slices.Equal(audited, fixtureV2Partners) {
		t.Errorf("runs.audited %v, want %v", audited, fixtureV2Partners)
	}

	// Run 4 again one night later: contoso has two rows, nothing changed.
	again, err := db.Results(4)
	if err != nil {
		t.Fatal(err)
	}
	again.Started = again.Started.Add(24 * time.Hour)
	again.Finished = again.Started.Add(time.Minute)
	id := record(t, db, again)
	if len(again.Changes) != 0 {
		t.Errorf("run %d after migration reports changes: %q", id, kinds(again.Changes))
	}
	// Between runs 3 and 4 the second host of contoso was added, and made
	// contoso's verdict worse.
	d, err := db.Diff(3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(d); !slices.Equal(got, []string{"contoso mx_added", "contoso verdict_worse"}) || d[0].Target != "mx2.contoso.example:25" || d[0].After != "192.0.2.7" {
		t.Errorf("diff 3..4: %q (%+v)", got, d)
	}
}

// twoHosts returns a run where partner "contoso" lists two MX hosts with
// different certificates and verdicts, and "fabrikam" one.
func twoHosts(started time.Time, mx2Leaf audit.Cert, ca *testCA, rest ...audit.Result) *audit.Results {
	mx1 := result("contoso", audit.Valid, audit.RootSystem, nil)
	mx2 := result("contoso", audit.PartialChain, audit.RootNone, nil)
	mx2.Host = "mx2.contoso.example"
	mx2.Chain = ca.chain(mx2Leaf)
	return results(inv, started, append([]audit.Result{mx1, mx2}, rest...)...)
}

func TestDuplicatePartnerNames(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		ca := newCA("Contoso", "Contoso CA")
		pub := newCA("Public", "Public CA")
		leaf1 := ca.leaf("mx1.contoso.example", now.AddDate(1, 0, 0), nil)
		leaf2 := ca.leaf("mx2.contoso.example", now.AddDate(1, 0, 0), nil)
		fab := result("fabrikam", audit.Valid, audit.RootSystem, pub.chain(pub.leaf("mx.fabrikam.example", now.AddDate(1, 0, 0), nil)))
		night := func(d int, mx2 audit.Cert) *audit.Results {
			r := twoHosts(now.AddDate(0, 0, d), mx2, ca, fab)
			r.Partners[0].Chain = ca.chain(leaf1)
			return r
		}
		r1, r2 := night(0, leaf2), night(1, leaf2)
		record(t, db, r1)
		record(t, db, r2)
		if len(r2.Changes) != 0 {
			t.Errorf("two MX rows of one partner give false changes: %q", kinds(r2.Changes))
		}
		// The second host gets a new certificate: one change, for that host.
		newLeaf := ca.leaf("mx2.contoso.example", now.AddDate(2, 0, 0), nil)
		r3 := night(2, newLeaf)
		record(t, db, r3)
		if got := kinds(r3.Changes); !slices.Equal(got, []string{"contoso cert_replaced", "contoso key_changed"}) {
			t.Fatalf("changes: %q", got)
		}
		for _, c := range r3.Changes {
			if c.Target != "mx2.contoso.example:25" || c.SinceRun != 2 {
				t.Errorf("%s %s: target %q since %d, want mx2.contoso.example:25 since 2", c.Partner, c.Kind, c.Target, c.SinceRun)
			}
		}
		stored, err := db.Changes(3)
		if err != nil || len(stored) != 2 || stored[0].Target != "mx2.contoso.example:25" {
			t.Errorf("stored changes %+v, %v", stored, err)
		}
		// The period summary keeps the two hosts apart: three runs each.
		sum, err := db.Summary(SummaryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, p := range sum.Partners {
			rows = append(rows, fmt.Sprintf("%s %s runs=%d failed=%d certs=%d", p.Partner, p.Target, p.Runs, p.FailedRuns, len(p.CertChanges)))
		}
		want := []string{
			"contoso mx.contoso.example:25 runs=3 failed=0 certs=0",
			"contoso mx2.contoso.example:25 runs=3 failed=3 certs=1",
			"fabrikam mx.fabrikam.example:25 runs=3 failed=0 certs=0",
		}
		if !slices.Equal(rows, want) {
			t.Errorf("summary rows:\n got %q\nwant %q", rows, want)
		}
	})
}

// TestEmptyRunIsNoBaseline: a night where every inventory row was rejected
// records a run with no partner and no changes; the next night compares
// with the last run that audited each partner, not with the empty one.
func TestEmptyRunIsNoBaseline(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		id1 := record(t, db, runs[0])
		empty := results(inv, now.Add(12*time.Hour))
		empty.InventoryErrors = []audit.InventoryError{{File: inv, Line: 2, Column: "partner", Message: "not valid UTF-8"}}
		idEmpty := record(t, db, empty)
		if len(empty.Changes) != 0 {
			t.Errorf("empty run reports %q", kinds(empty.Changes))
		}
		record(t, db, runs[1])
		if len(runs[1].Changes) != 13 {
			t.Errorf("after an empty run: %d changes %q, want the 13 since run 1", len(runs[1].Changes), kinds(runs[1].Changes))
		}
		for _, c := range runs[1].Changes {
			if c.SinceRun != id1 {
				t.Errorf("%s %s since run %d, want %d (not the empty run %d)", c.Partner, c.Kind, c.SinceRun, id1, idEmpty)
			}
		}
		// An empty run is not "the previous run" of the first scan either.
		db2 := openLike(t, db)
		record(t, db2, results(inv, now))
		first := fleetRuns()[0]
		record(t, db2, first)
		if len(first.Changes) != 0 {
			t.Errorf("first real run after an empty one reports %q", kinds(first.Changes))
		}
	})
}

// historyWithRuns writes a database holding the fleet runs and returns its path.
func historyWithRuns(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fleetRuns() {
		record(t, db, r)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCorruptDatabase(t *testing.T) {
	healthy := historyWithRuns(t)
	rep, err := CheckFile(healthy, false)
	if err != nil || !rep.OK() || rep.Runs != 3 || rep.Schema != SchemaVersion {
		t.Fatalf("healthy database: %+v, %v", rep, err)
	}

	// Damage the pages after the first: the header still reads, the
	// tables do not.
	damaged := copyFile(t, healthy)
	b, _ := os.ReadFile(damaged)
	if len(b) < 8*4096 {
		t.Fatalf("database of %d bytes is too small to damage", len(b))
	}
	for i := 2 * 4096; i < len(b)-4096; i += 4096 {
		copy(b[i+8:i+200], bytes.Repeat([]byte{0xA5}, 192))
	}
	os.WriteFile(damaged, b, 0o644)

	garbage := filepath.Join(t.TempDir(), "history.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("not sqlite "), 1000), 0o644)

	for _, tc := range []struct {
		name string
		path string
	}{{"damaged pages", damaged}, {"not a database", garbage}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, quick := range []bool{false, true} {
				rep, err := CheckFile(tc.path, quick)
				var he *Error
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &he) || he.Path != tc.path {
					t.Fatalf("CheckFile(quick=%v) = %v; want an *Error for %s wrapping ErrCorrupt", quick, err, tc.path)
				}
				if rep == nil || rep.OK() {
					t.Errorf("report %+v lists no problem", rep)
				}
				if !strings.Contains(err.Error(), "mxaudit history --check") {
					t.Errorf("message %q gives no hint", err)
				}
			}
			// A scan's Open or Record fails with the same typed error.
			db, err := Open(tc.path, Options{})
			if err == nil {
				_, err = db.Begin(inv, now)
				if err == nil {
					r := fleetRuns()[0]
					err = db.Record(0, r)
				}
				db.Close()
			}
			var he *Error
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &he) || (he.Op != OpOpen && he.Op != OpRecord) {
				t.Errorf("scan on a damaged database: %v; want an *Error (open or record) wrapping ErrCorrupt", err)
			}
		})
	}
}

// snapshotDir returns every file of dir with its content.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		out[e.Name()] = string(b)
	}
	return out
}

// TestReadOnly: the reading commands open the database read-only; they
// read everything, write nothing (not even WAL files), and a write through
// such a handle fails with ErrReadOnly. A schema-2 database is read as it
// is, without migrating it.
func TestReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		path   string
		schema int
		runs   int
	}{
		{"current schema", historyWithRuns(t), SchemaVersion, 3},
		{"schema 2, not migrated", copyFile(t, fixtureV2), 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Dir(tc.path)
			os.Remove(tc.path + "-wal") // as the last writer leaves it
			os.Remove(tc.path + "-shm")
			before := snapshotDir(t, dir)
			os.Chmod(tc.path, 0o444)
			db, err := Open(tc.path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			runs, err := db.Runs(RunFilter{})
			if err != nil || len(runs) != tc.runs {
				t.Fatalf("Runs = %d, %v; want %d", len(runs), err, tc.runs)
			}
			if _, err := db.Results(2); err != nil {
				t.Error(err)
			}
			if ch, err := db.Changes(2); err != nil || len(ch) != 13 {
				t.Errorf("Changes(2) = %d, %v", len(ch), err)
			}
			if d, err := db.Diff(1, 2); err != nil || len(d) != 13 {
				t.Errorf("Diff(1, 2) = %d, %v", len(d), err)
			}
			if _, err := db.Summary(SummaryOptions{}); err != nil {
				t.Error(err)
			}
			if rep, err := db.Check(true); err != nil || !rep.OK() || rep.Schema != tc.schema {
				t.Errorf("Check = %+v, %v", rep, err)
			}
			_, err = db.Begin(inv, now)
			var he *Error
			if !errors.Is(err, ErrReadOnly) || !errors.As(err, &he) || he.Op != OpRecord {
				t.Errorf("Begin on a read-only handle = %v; want an *Error wrapping ErrReadOnly", err)
			}
			db.Close()
			// SQLite may create the -shm and an empty -wal beside a WAL
			// database to read it; the database itself stays untouched.
			after := snapshotDir(t, dir)
			for name, b := range after {
				switch {
				case name == filepath.Base(tc.path)+"-shm":
				case name == filepath.Base(tc.path)+"-wal" && b == "":
				case before[name] != b:
					t.Errorf("%s changed or created by reading", name)
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

const childReadOnlyEnv = "MXAUDIT_HISTORY_TEST_READONLY_DB"

// childReadOnly is the subprocess of TestReadOnlyFolder, run as another
// user: it reads the database and prints what it found.
func childReadOnly(path string) int {
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer db.Close()
	runs, err := db.Runs(RunFilter{})
	if err != nil {
		fmt.Println("runs:", err)
		return 1
	}
	res, err := db.Results(runs[len(runs)-1].ID)
	if err != nil {
		fmt.Println("results:", err)
		return 1
	}
	fmt.Printf("runs=%d partners=%d\n", len(runs), len(res.Partners))
	return 0
}

// TestReadOnlyFolder reads a WAL database in a folder the reader cannot
// write (a read-only mount, another user's state folder): SQLite cannot
// create the -shm file there, and the history is still listed. Root
// ignores permissions, so under root the reader runs as nobody (setpriv).
func TestReadOnlyFolder(t *testing.T) {
	base, err := os.MkdirTemp("", "mxaudit-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(base, "db"), 0o755); os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	dir := filepath.Join(base, "db")
	os.Mkdir(dir, 0o755)
	path := filepath.Join(dir, "history.db")
	src := historyWithRuns(t)
	b, _ := os.ReadFile(src)
	os.WriteFile(path, b, 0o444)
	if v := pragmaString(t, path, "journal_mode"); v != "wal" {
		t.Fatalf("journal_mode %q, want wal", v)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	os.Chmod(dir, 0o555)

	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			skipOrFail(t, "setpriv (util-linux) is needed to read as another user under root")
		}
		exe, _ := os.Executable()
		bin := filepath.Join(base, "history.test")
		eb, _ := os.ReadFile(exe)
		os.WriteFile(bin, eb, 0o755)
		cmd = exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "-test.run=^$")
	} else {
		exe, _ := os.Executable()
		cmd = exec.Command(exe, "-test.run=^$")
	}
	cmd.Dir = base
	cmd.Env = append(os.Environ(), childReadOnlyEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "runs=3 partners=6") {
		t.Fatalf("reading from a read-only folder: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files in the read-only folder: %v", ents)
	}
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func pragmaString(t *testing.T, path, name string) string {
	t.Helper()
	db := rawSQL(t, path)
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return v
}

// TestRowBackAfterARejectedNight: a row rejected for a night (a typo in the
// inventory) is compared, once back, with the last run that audited it, and
// not reported as a new partner.
func TestRowBackAfterARejectedNight(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		runs := fleetRuns()
		id1 := record(t, db, runs[0])
		// Night 2: the same partners, contoso's row rejected.
		night2 := results(inv, now.Add(24*time.Hour), runs[0].Partners[1:]...)
		night2.InventoryErrors = []audit.InventoryError{{File: inv, Line: 2, Column: "port", Message: `"25x" is not a port number`}}
		record(t, db, night2)
		if got := kinds(night2.Changes); !slices.Equal(got, []string{"wingtip expiry_threshold", "contoso partner_removed"}) {
			t.Errorf("night 2: %q", got)
		}
		// Night 3: contoso is back with its rotated certificate.
		night3 := results(inv, now.Add(48*time.Hour), runs[0].Partners...)
		night3.Partners = slices.Clone(night3.Partners)
		night3.Partners[0] = runs[1].Partners[0]
		record(t, db, night3)
		want := []string{"contoso verdict_worse", "contoso cert_replaced", "contoso issuer_changed", "contoso key_changed"}
		if got := kinds(night3.Changes); !slices.Equal(got, want) {
			t.Fatalf("night 3:\n got %q\nwant %q", got, want)
		}
		for _, c := range night3.Changes {
			if c.SinceRun != id1 {
				t.Errorf("%s since run %d, want %d (the last run that audited contoso)", c.Kind, c.SinceRun, id1)
			}
		}
	})
}
