package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
)

// historyDB records two runs of one inventory: b fails in the second,
// c is removed and d added.
func historyDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	db, err := history.Open(path, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	p := func(name string, v audit.Verdict) audit.Result {
		return audit.Result{Partner: audit.Partner{Name: name, Host: "mx." + name, Port: 25}, Verdict: v, Verdicts: []audit.Verdict{v}}
	}
	for i, ps := range [][]audit.Result{
		{p("a", audit.Valid), p("b", audit.Valid), p("c", audit.Valid)},
		{p("a", audit.Valid), p("b", audit.Timeout), p("d", audit.Valid)},
	} {
		s := start.AddDate(0, 0, i)
		res := &audit.Results{Schema: audit.SchemaVersion, Started: s, Finished: s.Add(time.Minute), Inventory: "/inv.csv", Partners: ps}
		if err := db.Record(0, res); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// runApp runs the mxaudit CLI with args and returns stdout and the exit code.
func runApp(t *testing.T, args ...string) (string, int) {
	t.Helper()
	app := newApp()
	var out, errb bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errb
	err := app.Run(append([]string{"mxaudit"}, args...))
	code := 0
	var ec cli.ExitCoder
	switch {
	case errors.As(err, &ec):
		code = ec.ExitCode()
	case err != nil:
		code = exitUsage
	}
	return out.String(), code
}

func TestHistoryAndDiffCommands(t *testing.T) {
	db := historyDB(t)
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"history lists both runs", []string{"history", "--db", db}, 0, []string{"1 2026-03-01 02:00:00", "2 2026-03-02 02:00:00", "complete", "/inv.csv"}},
		{"diff of the last two", []string{"diff", "--db", db}, 0, []string{"Changes from run 1 to run 2", "b verdict_worse Valid Timeout", "d partner_added - mx.d:25", "c partner_removed mx.c:25 -"}},
		{"diff with one run", []string{"diff", "--db", db, "1"}, 0, []string{"Changes from run 1 to run 2"}},
		{"diff of a run with itself", []string{"diff", "--db", db, "2", "2"}, 0, []string{"No changes from run 2 to run 2."}},
		{"unknown run", []string{"diff", "--db", db, "1", "9"}, exitUsage, nil},
		{"not a run id", []string{"diff", "--db", db, "x"}, exitUsage, nil},
		{"missing database", []string{"history", "--db", filepath.Join(t.TempDir(), "none.db")}, exitUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectApp(t, tt.args, tt.code, tt.want)
		})
	}
	out, code := runApp(t, "diff", "--db", db, "--json")
	var doc struct {
		From, To int64
		Changes  []audit.Change
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Changes) != 3 {
		t.Errorf("diff --json (exit %d, %v):\n%s", code, err, out)
	}
}

// TestHistoryCheck runs `history --check` against a healthy, a damaged, a
// non-SQLite and a read-only database; the listing of a read-only database
// writes nothing.
func TestHistoryCheck(t *testing.T) {
	healthy := historyDB(t)
	damaged := filepath.Join(t.TempDir(), "history.db")
	b, err := os.ReadFile(healthy)
	if err != nil {
		t.Fatal(err)
	}
	for i := 2 * 4096; i+4096 <= len(b); i += 4096 {
		copy(b[i+8:i+200], bytes.Repeat([]byte{0xA5}, 192))
	}
	os.WriteFile(damaged, b, 0o644)
	garbage := filepath.Join(t.TempDir(), "history.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("garbage "), 2000), 0o644)
	readOnly := historyDB(t)
	os.Chmod(readOnly, 0o444)
	roBefore, _ := os.ReadFile(readOnly)

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"healthy", []string{"history", "--check", "--db", healthy}, 0, []string{"ok (integrity_check; schema 6, 2 runs)"}},
		{"healthy, quick", []string{"history", "--check", "--quick", "--db", healthy}, 0, []string{"ok (quick_check"}},
		{"damaged", []string{"history", "--check", "--db", damaged}, exitFindings, nil},
		{"damaged, quick", []string{"history", "--check", "--quick", "--db", damaged}, exitFindings, nil},
		{"not a database", []string{"history", "--check", "--db", garbage}, exitFindings, []string{"file is not a database"}},
		{"missing", []string{"history", "--check", "--db", filepath.Join(t.TempDir(), "none.db")}, exitUsage, nil},
		{"quick without check", []string{"history", "--quick", "--db", healthy}, exitUsage, nil},
		{"listing a damaged database fails", []string{"history", "--db", garbage}, exitInternal, nil},
		{"read-only database is listed", []string{"history", "--db", readOnly}, 0, []string{"2 2026-03-02 02:00:00", "complete"}},
		{"read-only database is checked", []string{"history", "--check", "--db", readOnly}, 0, []string{"ok (integrity_check"}},
		{"read-only database diffed", []string{"diff", "--db", readOnly}, 0, []string{"b verdict_worse"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := expectApp(t, tt.args, tt.code, tt.want)
			if tt.code == exitFindings && strings.TrimSpace(out) == "" {
				t.Error("a damaged database is reported without its problems")
			}
		})
	}
	if after, _ := os.ReadFile(readOnly); !bytes.Equal(after, roBefore) {
		t.Error("reading the read-only database changed it")
	}
	out, code := runApp(t, "history", "--check", "--json", "--db", damaged)
	var rep history.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFindings || rep.OK() {
		t.Errorf("--check --json of a damaged database (exit %d, %v):\n%s", code, err, out)
	}
}

// TestHistoryPrune runs `history --prune` in order on one database: bad
// flags, a held lock, a dry run, the prune, the check after it; and
// against databases it must refuse (missing, not ours, newer, read-only).
func TestHistoryPrune(t *testing.T) {
	db := historyDB(t)
	foreign := filepath.Join(t.TempDir(), "other.db")
	newer := historyDB(t)
	readOnly := historyDB(t)
	for _, s := range []struct{ path, stmt string }{{foreign, "CREATE TABLE mail (id INTEGER)"}, {newer, "PRAGMA user_version = 99"}} {
		sdb, err := sql.Open("sqlite", s.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sdb.Exec(s.stmt); err != nil {
			t.Fatal(err)
		}
		sdb.Close()
	}
	os.Chmod(readOnly, 0o444)
	tests := []struct {
		name string
		args []string
		hold bool // a scan holds the database's lock
		code int
		want []string
	}{
		{"no cutoff", []string{"history", "--prune", "--db", db}, false, exitUsage, nil},
		{"cutoff without prune", []string{"history", "--older-than", "90d", "--db", db}, false, exitUsage, nil},
		{"prune and check", []string{"history", "--prune", "--check", "--older-than", "90d", "--db", db}, false, exitUsage, nil},
		{"prune of one inventory", []string{"history", "--prune", "--older-than", "90d", "--inventory", "/inv.csv", "--db", db}, false, exitUsage, nil},
		{"cutoff without unit", []string{"history", "--prune", "--older-than", "90", "--db", db}, false, exitUsage, nil},
		{"held lock", []string{"history", "--prune", "--older-than", "0d", "--db", db}, true, exitLocked, nil},
		{"dry run", []string{"history", "--prune", "--older-than", "0d", "--dry-run", "--db", db}, false, 0, []string{"would remove (dry run, nothing removed) 1 runs", "(ids 1)", "kept 1 runs", "(ids 2)"}},
		{"dry run removed nothing", []string{"history", "--db", db}, false, 0, []string{"1 2026-03-01", "2 2026-03-02"}},
		{"prune", []string{"history", "--prune", "--older-than", "0d", "--db", db}, false, 0, []string{"removed 1 runs", "(ids 1)", "kept 1 runs", "baseline", "rows: results 3, targets 0, changes 0"}},
		{"check after prune", []string{"history", "--check", "--db", db}, false, 0, []string{"ok (integrity_check; schema 6, 1 runs)"}},
		{"nothing left to prune", []string{"history", "--prune", "--older-than", "0d", "--vacuum", "--db", db}, false, 0, []string{"removed 0 runs", "VACUUM freed"}},
		{"missing", []string{"history", "--prune", "--older-than", "90d", "--db", filepath.Join(t.TempDir(), "none.db")}, false, exitUsage, nil},
		{"not a history", []string{"history", "--prune", "--older-than", "90d", "--db", foreign}, false, exitUsage, nil},
		{"newer schema", []string{"history", "--prune", "--older-than", "90d", "--db", newer}, false, exitUsage, nil},
	}
	if os.Geteuid() != 0 { // root writes a file of mode 0444 all the same
		tests = append(tests, struct {
			name string
			args []string
			hold bool
			code int
			want []string
		}{"read-only", []string{"history", "--prune", "--older-than", "0d", "--db", readOnly}, false, exitUsage, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.hold {
				lock, err := history.TryLock(db)
				if err != nil {
					t.Fatal(err)
				}
				defer lock.Release()
			}
			expectApp(t, tt.args, tt.code, tt.want)
		})
	}
	sdb, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var ver int
	if err := sdb.QueryRow("PRAGMA user_version").Scan(&ver); err != nil || ver != 99 {
		t.Errorf("the refused prune changed the newer database: user_version %d, %v", ver, err)
	}
}

// expectApp runs mxaudit with args and wants exit code code and every one
// of want in its output (white space runs read as one space), and returns the output.
func expectApp(t *testing.T, args []string, code int, want []string) string {
	t.Helper()
	out, got := runApp(t, args...)
	if got != code {
		t.Fatalf("exit code %d, want %d; output:\n%s", got, code, out)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, w := range want {
		if !strings.Contains(flat, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	return out
}
