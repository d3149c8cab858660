package main

import (
	"bytes"
	"encoding/json"
	"errors"
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
			out, code := runApp(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tt.code, out)
			}
			flat := strings.Join(strings.Fields(out), " ")
			for _, w := range tt.want {
				if !strings.Contains(flat, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
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
