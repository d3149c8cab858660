package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
)

// dbFlag is --db, shared by scan, history, diff and report.
func dbFlag() cli.Flag {
	return &cli.StringFlag{Name: "db", EnvVars: []string{"MXAUDIT_DB"},
		Usage: "history database: an SQLite `FILE` (default: $XDG_STATE_HOME/mxaudit/history.db) or a postgres://user@host/db URL (password from PGPASSWORD or ~/.pgpass)"}
}

// historyFlags are the scan's history and cron flags.
func historyFlags() []cli.Flag {
	return []cli.Flag{
		dbFlag(),
		&cli.BoolFlag{Name: "no-history", Usage: "do not record this scan in the history database (no lock, no changes)"},
		&cli.StringFlag{Name: "vantage", Usage: "`NAME` of the place the probes leave from (eu-1, onprem): changes are computed per vantage point"},
		&cli.StringFlag{Name: "run-label", Usage: "`LABEL` tying the shards of one audit together (e.g. 2026-11-27); see report --run-label"},
		&cli.StringFlag{Name: "inventory-id", Usage: "`NAME` the history knows the inventory by (default: its absolute path); give the shards on several hosts one name when the file lives at different paths"},
		&cli.StringFlag{Name: "shard", Usage: "audit slice `K/N` of the inventory (K from 0 to N-1, e.g. a Kubernetes completion index), by domain"},
		&cli.StringFlag{Name: "metrics-file", EnvVars: []string{"MXAUDIT_METRICS_FILE"},
			Usage: "write a Prometheus node_exporter textfile to `FILE` (e.g. /var/lib/node_exporter/textfile/mxaudit.prom)"},
	}
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "list the recorded scans, check the database (--check), or prune old scans (--prune)",
		ArgsUsage: " ",
		Description: "Reads the history database without writing to it. --check runs SQLite's\n" +
			"integrity check (--quick: the faster quick_check) and exits with 1 when the\n" +
			"database is damaged; move a damaged database aside (the next scan starts a new\n" +
			"history) or scan with --no-history.\n\n" +
			"--prune --older-than 90d (or a date, 2026-06-30) removes the scans started before\n" +
			"the cutoff, and the certificates, partner rows and result bodies no remaining scan\n" +
			"uses, in one transaction; the latest complete scan of each inventory, vantage point\n" +
			"and shard stays (the next scan compares with it). It takes the scan's lock (exit 4\n" +
			"while a scan holds it; on PostgreSQL while a scan records). --dry-run only says what\n" +
			"it would remove; --vacuum (SQLite) then rebuilds the file and says the bytes freed.",
		Flags: []cli.Flag{
			dbFlag(),
			&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "only scans of the inventory `FILE` (or of the --inventory-id a scan gave it)"},
			&cli.IntFlag{Name: "limit", Aliases: []string{"n"}, Value: 30, Usage: "the newest `N` scans (0: all)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "check", Usage: "check the database's integrity instead of listing the scans"},
			&cli.BoolFlag{Name: "quick", Usage: "with --check: SQLite's quick_check instead of the full integrity_check"},
			&cli.BoolFlag{Name: "prune", Usage: "remove the scans started before --older-than (each scope's latest complete scan stays)"},
			&cli.StringFlag{Name: "older-than", Usage: "with --prune: the cutoff, `DAYS` before now (90d) or a date (2026-06-30)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "with --prune: say what would be removed, remove nothing"},
			&cli.BoolFlag{Name: "vacuum", Usage: "with --prune: VACUUM the SQLite file afterwards and say the bytes freed"},
		},
		Action: listHistory,
	}
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show what changed between two recorded scans",
		ArgsUsage: "[RUN_A [RUN_B]]",
		Description: "Without arguments, compares the newest complete scan with the scan of the same\n" +
			"inventory (vantage point and shard) before it; with RUN_A alone, RUN_A with the newest\n" +
			"scan of its inventory, vantage point and shard. Run ids are those of 'mxaudit history'.",
		Flags:  []cli.Flag{dbFlag(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action: diffRuns,
	}
}

// historyPath returns --db or the default database path.
func historyPath(c *cli.Context) (string, error) {
	if p := c.String("db"); p != "" {
		return p, nil
	}
	return history.DefaultPath()
}

// openHistoryDB opens an existing history database read-only (history,
// diff, report --run, report --since): nothing is written, so a database on
// a read-only medium can be read; the caller closes it.
func openHistoryDB(c *cli.Context) (*history.DB, error) {
	path, err := historyPath(c)
	if err != nil {
		return nil, cli.Exit(err.Error(), exitUsage)
	}
	db, err := history.Open(path, history.Options{ReadOnly: true})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, cli.Exit(fmt.Sprintf("no history database at %s (run a scan first, or name one with --db)", history.Redact(path)), exitUsage)
	case errors.Is(err, history.ErrCorrupt):
		return nil, cli.Exit(err.Error(), exitInternal)
	case err != nil:
		return nil, cli.Exit(err.Error(), exitUsage)
	}
	return db, nil
}

// checkHistory is `history --check`: SQLite's integrity check of the
// database, exit code 1 when it is damaged.
func checkHistory(c *cli.Context) error {
	path, err := historyPath(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	rep, err := history.CheckFile(path, c.Bool("quick"))
	if errors.Is(err, fs.ErrNotExist) {
		return cli.Exit(fmt.Sprintf("no history database at %s (run a scan first, or name one with --db)", history.Redact(path)), exitUsage)
	}
	if c.Bool("json") {
		if perr := printJSON(c, rep); perr != nil {
			return perr
		}
	} else if err == nil {
		what := "integrity_check"
		switch {
		case history.IsURL(path):
			what = "every complete run holds its results"
		case rep.Quick:
			what = "quick_check"
		}
		fmt.Fprintf(c.App.Writer, "%s: ok (%s; schema %d, %d runs)\n", rep.Path, what, rep.Schema, rep.Runs)
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintln(c.App.Writer, p)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, history.ErrCorrupt):
		return cli.Exit(err.Error(), exitFindings)
	case errors.Is(err, history.ErrNotHistory):
		return cli.Exit(err.Error(), exitUsage)
	}
	return cli.Exit(err.Error(), exitInternal)
}

func listHistory(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("history takes no arguments", exitUsage)
	}
	if c.Bool("quick") && !c.Bool("check") {
		return cli.Exit("--quick goes with --check", exitUsage)
	}
	if err := pruneFlagsAlone(c); err != nil {
		return err
	}
	if c.Bool("check") {
		return checkHistory(c)
	}
	if c.Bool("prune") {
		return pruneHistory(c)
	}
	db, err := openHistoryDB(c)
	if err != nil {
		return err
	}
	defer db.Close()
	f := history.RunFilter{Limit: c.Int("limit")}
	if f.Inventory, err = inventoryKey(c.String("inventory")); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	runs, err := db.Runs(f)
	if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	if c.Bool("json") {
		if runs == nil {
			runs = []history.Run{}
		}
		return printJSON(c, runs)
	}
	return history.WriteRuns(c.App.Writer, runs)
}

func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, cli.Exit(fmt.Sprintf("%q is not a run id (see 'mxaudit history')", s), exitUsage)
	}
	return id, nil
}

func diffRuns(c *cli.Context) error {
	if c.NArg() > 2 {
		return cli.Exit("diff takes at most two run ids", exitUsage)
	}
	db, err := openHistoryDB(c)
	if err != nil {
		return err
	}
	defer db.Close()
	a, b, err := runsToDiff(c, db)
	if err != nil {
		return err
	}
	changes, err := db.Diff(a, b)
	if errors.Is(err, history.ErrNoRun) {
		return cli.Exit(err.Error(), exitUsage)
	}
	if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	if c.Bool("json") {
		if changes == nil {
			changes = []audit.Change{}
		}
		return printJSON(c, map[string]any{"from_run": a, "to_run": b, "changes": changes})
	}
	return history.WriteChanges(c.App.Writer, a, b, changes)
}

// runsToDiff reads the two runs diff compares: the last two, the one given
// and the latest of its inventory, or the two given.
func runsToDiff(c *cli.Context, db *history.DB) (a, b int64, err error) {
	switch c.NArg() {
	case 0:
		a, b, err = db.LastRuns()
	case 1:
		if a, err = parseRunID(c.Args().First()); err != nil {
			return 0, 0, err
		}
		var run history.Run
		if run, err = db.Run(a); err == nil {
			b, err = db.LatestOf(run.Scope())
		}
	default:
		if a, err = parseRunID(c.Args().Get(0)); err != nil {
			return 0, 0, err
		}
		if b, err = parseRunID(c.Args().Get(1)); err != nil {
			return 0, 0, err
		}
	}
	if err != nil {
		return 0, 0, cli.Exit(err.Error(), exitUsage)
	}
	return a, b, nil
}

func printJSON(c *cli.Context, v any) error {
	e := json.NewEncoder(c.App.Writer)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

// parseHistoryDate reads a --since/--until value: a date (2006-01-02, the
// start of that day in the local time zone) or an RFC 3339 time.
func parseHistoryDate(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2006-01-02) nor an RFC 3339 time", s)
	}
	return t, nil
}

// inventoryKey is how the history knows the inventory --inventory names:
// an --inventory-id (a name without a slash that is no file here) as it
// is, a file by its absolute path.
func inventoryKey(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if strings.Contains(v, "/") {
		return filepath.Abs(v)
	}
	if _, err := os.Stat(v); err != nil {
		return v, nil
	}
	return filepath.Abs(v)
}

// pruneFlagsAlone refuses --prune with --check or --inventory, without
// --older-than, and the prune options without --prune.
func pruneFlagsAlone(c *cli.Context) error {
	prune := c.Bool("prune")
	switch {
	case prune && c.Bool("check"):
		return cli.Exit("--prune and --check are separate runs", exitUsage)
	case prune && c.IsSet("inventory"):
		return cli.Exit("--prune removes old scans of every inventory; it takes no --inventory", exitUsage)
	case prune && c.String("older-than") == "":
		return cli.Exit("--prune needs --older-than (90d, or a date such as 2026-06-30)", exitUsage)
	case !prune && (c.IsSet("older-than") || c.Bool("dry-run") || c.Bool("vacuum")):
		return cli.Exit("--older-than, --dry-run and --vacuum go with --prune", exitUsage)
	}
	return nil
}

// pruneHistory is `history --prune`: under the scan's lock, remove the
// scans started before --older-than.
func pruneHistory(c *cli.Context) error {
	before, err := history.ParseCutoff(c.String("older-than"), time.Now())
	if err != nil {
		return cli.Exit("--older-than "+err.Error(), exitUsage)
	}
	path, err := historyPath(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if c.Bool("vacuum") && history.IsURL(path) {
		return cli.Exit("--vacuum is for SQLite files (PostgreSQL's autovacuum reclaims the space)", exitUsage)
	}
	db, lock, err := openToPrune(path)
	if err != nil {
		return pruneExit(path, err)
	}
	defer lock.Release()
	defer db.Close()
	rep, err := db.Prune(history.PruneOptions{Before: before, DryRun: c.Bool("dry-run"), Vacuum: c.Bool("vacuum")})
	if err != nil {
		return pruneExit(path, err)
	}
	if c.Bool("json") {
		return printJSON(c, rep)
	}
	return history.WritePrune(c.App.Writer, rep)
}

// openToPrune opens an existing database for writing: an SQLite file
// under its lock (taken first, as a scan does), or a PostgreSQL database
// (Prune takes its lock; the returned Lock is nil).
func openToPrune(path string) (*history.DB, *history.Lock, error) {
	var lock *history.Lock
	if !history.IsURL(path) {
		var err error
		if lock, err = history.TryLock(path); err != nil {
			return nil, nil, err
		}
	}
	db, err := history.Open(path, history.Options{MustExist: true})
	if err != nil {
		lock.Release()
		return nil, nil, err
	}
	return db, lock, nil
}

// pruneExit maps a prune's failure to its exit code: 4 for a held lock,
// 2 for a database that is missing, not ours, newer or read-only.
func pruneExit(path string, err error) error {
	var le *history.LockedError
	var tn *history.SchemaTooNewError
	switch {
	case errors.As(err, &le):
		return cli.Exit(err.Error(), exitLocked)
	case errors.Is(err, fs.ErrNotExist):
		return cli.Exit(fmt.Sprintf("no history database at %s (run a scan first, or name one with --db)", history.Redact(path)), exitUsage)
	case errors.As(err, &tn), errors.Is(err, history.ErrNotHistory), errors.Is(err, history.ErrReadOnly), errors.Is(err, fs.ErrPermission):
		return cli.Exit(err.Error(), exitUsage)
	}
	return cli.Exit(err.Error(), exitInternal)
}
