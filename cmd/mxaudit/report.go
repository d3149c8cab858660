package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/pipeline"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory"
	"github.com/mxaudit/mxaudit/internal/trust"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// reportFlags are the flags of every command that writes reports (scan, demo, report).
func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "format", Value: "all", Usage: "reports to write, comma-separated: xlsx, pdf, json (keeps results.json), csv, or all"},
		&cli.BoolFlag{Name: "per-partner", Usage: "also write partners/<name>.pdf: one PDF per partner with only its own findings"},
		&cli.StringFlag{Name: "templates", Usage: "override the report wording with the *.tmpl files (and logo.png) in `DIR`"},
		&cli.StringFlag{Name: "font", Usage: "TrueType `FILE` for CJK text in PDFs (default: looked for in the system font folders)"},
		&cli.StringFlag{Name: "org", Usage: "organisation `NAME` on the reports (default: the organisation.tmpl template)"},
		&cli.IntFlag{Name: "detail-cap", EnvVars: []string{"MXAUDIT_DETAIL_CAP"},
			Usage: "give `N` partners with a problem, most severe first, a detail section in report.pdf (0: the default 500, -1: every one)"},
	}
}

// reportOptions reads the report flags.
func reportOptions(c *cli.Context) (reports.Options, []reports.Format, error) {
	formats, err := reports.ParseFormats(c.String("format"))
	if err != nil {
		return reports.Options{}, nil, fmt.Errorf("--format: %w", err)
	}
	tpl, err := templates.Load(c.String("templates"))
	if err != nil {
		return reports.Options{}, nil, fmt.Errorf("--templates: %w", err)
	}
	if c.Int("detail-cap") < -1 {
		return reports.Options{}, nil, fmt.Errorf("--detail-cap %d: want a count of partners, 0 for %d or -1 for every one", c.Int("detail-cap"), reports.DetailCap)
	}
	opts := reports.Options{Org: c.String("org"), Templates: tpl, Warn: func(s string) { logger(c).Warn(s) }, DetailCap: c.Int("detail-cap")}
	if p := c.String("font"); p != "" {
		if opts.CJKFont, err = reports.LoadFont(p); err != nil {
			return reports.Options{}, nil, fmt.Errorf("--font: %w", err)
		}
	}
	return opts, formats, nil
}

// reportsConfig reads the report flags for the pipeline's write stage.
func reportsConfig(c *cli.Context) (pipeline.Reports, error) {
	opts, formats, err := reportOptions(c)
	if err != nil {
		return pipeline.Reports{}, err
	}
	return pipeline.Reports{Formats: formats, PerPartner: c.Bool("per-partner"), Options: opts}, nil
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "re-render the reports of a past run, or summarise a period, without touching the network",
		UsageText: "mxaudit report --from results.json --out DIR [--format xlsx,pdf,json,csv] [--per-partner]\n" +
			"mxaudit report --run ID --out DIR      (a run from the history database)\n" +
			"mxaudit report --since DATE [--until DATE] [--json] [--out DIR]   (quarterly view of every run)\n" +
			"mxaudit report --run-label LABEL [--vantage NAME] --out DIR   (the shards and vantage points of one audit)",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "from", Usage: "results.json `FILE` of a past run"},
			&cli.Int64Flag{Name: "run", Usage: "re-render run `ID` of the history database (see mxaudit history)"},
			&cli.StringFlag{Name: "since", Usage: "summarise every run from `DATE` (2006-01-02 or RFC 3339)"},
			&cli.StringFlag{Name: "until", Usage: "end of the --since period, exclusive (`DATE`)"},
			&cli.BoolFlag{Name: "json", Usage: "print the --since summary as JSON"},
			&cli.StringFlag{Name: "run-label", Usage: "put the shards of run `LABEL` together from the history database (once every shard has finished)"},
			&cli.StringFlag{Name: "vantage", Usage: "with --run-label: only the runs from vantage point `NAME`"},
			dbFlag(),
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "mxaudit-report", Usage: "write the reports into `DIR`"},
		}, reportFlags()...),
		Action: reportAction,
	}
}

func reportAction(c *cli.Context) error {
	if n := countSet(c, "from", "run", "since", "run-label"); n != 1 {
		return cli.Exit("report: give exactly one of --from FILE, --run ID, --since DATE or --run-label LABEL", exitUsage)
	}
	switch {
	case c.IsSet("since"):
		return periodSummary(c)
	case c.IsSet("run-label"):
		return labelReport(c)
	}
	src, err := pastRun(c)
	if err != nil {
		return err
	}
	defer src.close()
	return render(c, c.String("out"), src, nil)
}

// render writes the reports of the run src into out, the partners read
// in passes, never held, and prints the files written; vantages, when
// set, is the comparison the reports show beside the run.
func render(c *cli.Context, out string, src *runSource, vantages *reports.Vantages) error {
	opts, formats, err := reportOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	opts.Vantages = vantages
	seq, serr := src.each.Seq()
	files, err := reports.WriteAllFrom(c.Context, out, src.head, seq, formats, c.Bool("per-partner"), opts)
	if err = errors.Join(err, serr()); err != nil {
		return cli.Exit("reports: "+err.Error(), exitInternal)
	}
	if slices.Contains(formats, reports.JSON) {
		dst := filepath.Join(out, reports.FileResultsJSON)
		if !c.IsSet("from") || !sameFile(dst, c.String("from")) {
			if err := audit.WriteResultsStream(dst, src.head, src.each); err != nil {
				return cli.Exit(err.Error(), exitInternal)
			}
			files = append(files, dst)
		}
	}
	for _, f := range files {
		fmt.Fprintln(c.App.Writer, f)
	}
	return nil
}

// countSet returns how many of the flags names are set.
func countSet(c *cli.Context, names ...string) int {
	n := 0
	for _, f := range names {
		if c.IsSet(f) {
			n++
		}
	}
	return n
}

// runSource is a past run to render or mail: its head and its partners,
// read again from the file or database on every pass.
type runSource struct {
	head  *audit.Results
	each  audit.Each
	from  string // the results.json or the database it comes from
	close func()
}

// pastRun opens the run --run names in the history database, the shards
// of the run label --run-label names (from one vantage point), or the
// results.json --from names, for reading a partner at a time.
func pastRun(c *cli.Context) (*runSource, error) {
	if c.IsSet("run-label") {
		return labelRun(c)
	}
	if !c.IsSet("run") {
		rf, err := audit.OpenResults(c.String("from"))
		if err != nil {
			return nil, cli.Exit(err.Error(), exitUsage)
		}
		return &runSource{head: rf.Head, each: rf.Each, from: c.String("from"), close: func() {}}, nil
	}
	db, err := openHistoryDB(c)
	if err != nil {
		return nil, err
	}
	id := c.Int64("run")
	head, err := db.RunHead(id)
	if err != nil {
		db.Close()
		return nil, cli.Exit(err.Error(), exitUsage)
	}
	each := func(fn func(*audit.Result) error) error { return db.EachResult(id, fn) }
	return &runSource{head: head, each: each, from: db.Path(), close: func() { db.Close() }}, nil
}

// labelRun is pastRun for --run-label: one vantage point's (--vantage
// when the label has several).
func labelRun(c *cli.Context) (*runSource, error) {
	db, err := openHistoryDB(c)
	if err != nil {
		return nil, err
	}
	st, vantages, err := labelVantages(c, db)
	if err == nil && len(vantages) > 1 {
		err = usage("run label %s has runs from %s: name one with --vantage", st.Label, strings.Join(vantages, ", "))
	}
	var src *runSource
	if err == nil {
		src, err = labelSource(db, st, vantages[0])
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	src.close = func() { db.Close() }
	return src, nil
}

// periodSummary prints the quarterly view of every run between --since and --until.
func periodSummary(c *cli.Context) error {
	since, err := parseHistoryDate(c.String("since"))
	if err != nil {
		return cli.Exit("--since: "+err.Error(), exitUsage)
	}
	var until time.Time
	if c.IsSet("until") {
		if until, err = parseHistoryDate(c.String("until")); err != nil {
			return cli.Exit("--until: "+err.Error(), exitUsage)
		}
	}
	db, err := openHistoryDB(c)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := db.Summary(history.SummaryOptions{Since: since, Until: until, Location: time.Local})
	if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	if c.IsSet("out") {
		var b bytes.Buffer
		if err := s.WriteJSON(&b); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
		if err := os.MkdirAll(c.String("out"), 0o755); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
		if err := audit.WriteFileAtomic(filepath.Join(c.String("out"), "period-summary.json"), b.Bytes()); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
	}
	if c.Bool("json") {
		return s.WriteJSON(c.App.Writer)
	}
	return s.WriteText(c.App.Writer)
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func rootsCommand() *cli.Command {
	return &cli.Command{
		Name:  "roots",
		Usage: "lifecycle report of the imported private roots alone (no network)",
		UsageText: "mxaudit roots --private-roots DIR [--inventory FILE] [--out DIR --format xlsx,pdf,json,csv]\n\n" +
			"Reads every .cer/.crt/.pem/.der/.p7b/.p7c/.sst file in DIR, prints each root with its expiry,\n" +
			"days left, status and recommended action, and names every file it could not read.\n" +
			"With --inventory, a root no partner declares (private_root column) is \"unused\".\n" +
			"A root is \"expiring\" within root_expiring_days (90) of its end: [thresholds] of --config.\n" +
			"With --out, writes private-roots.{xlsx,pdf,json,csv}. Exit code 1 when a file could not be read.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "private-roots", Required: true, Usage: "`DIR` of private root CA files"},
			&cli.StringFlag{Name: "inventory", Usage: "partner inventory `FILE`: fills \"declared by\" from its private_root column"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "also write the lifecycle report files into `DIR`"},
			&cli.StringFlag{Name: "now", Usage: "grade against this `DATE` (YYYY-MM-DD) instead of today"},
			configFlag(),
			&cli.StringFlag{Name: "format", Value: "all", Usage: "files to write with --out: xlsx, pdf, json, csv, or all"},
			&cli.StringFlag{Name: "templates", Usage: "override the report wording with the *.tmpl files in `DIR`"},
			&cli.StringFlag{Name: "font", Usage: "TrueType `FILE` for CJK text in the PDF"},
			&cli.StringFlag{Name: "org", Usage: "organisation `NAME` on the reports"},
		},
		Action: roots,
	}
}

func roots(c *cli.Context) error {
	now, err := rootsNow(c)
	if err != nil {
		return err
	}
	cfg, err := configFile(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	dir := c.String("private-roots")
	st, err := trust.New(trust.Options{PrivateDir: dir})
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	rows, use, err := rootsInventory(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	rl := reports.RootsLifecycle{Now: now, Dir: dir, Thresholds: cfg.Thresholds,
		Roots: audit.Lifecycle(st.PrivateRoots(now), rows, use, now, cfg.Thresholds)}
	for i := range rl.Roots {
		rl.Roots[i].DER = nil
	}
	rl.Errors = rootWarnings(c, dir, st.Warnings, rl.Roots)
	if err := printRoots(c, rl); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	if out := c.String("out"); out != "" {
		if err := writeRootsFiles(c, out, rl); err != nil {
			return err
		}
	}
	if len(rl.Errors) > 0 {
		return cli.Exit(fmt.Sprintf("%d file(s) in %s could not be read", len(rl.Errors), dir), exitFindings)
	}
	return nil
}

// rootsInventory reads --inventory for the roots' "declared by": its rows,
// and how a root counts as used without a probe (audit.RootUse).
func rootsInventory(c *cli.Context) ([]audit.Result, audit.RootUse, error) {
	if c.String("inventory") == "" {
		return nil, audit.UseUnknown, nil // no partners known: graded by date only
	}
	partners, invErrs, err := inventory.ReadFile(c.String("inventory"))
	if err != nil {
		return nil, 0, err
	}
	for _, e := range invErrs {
		fmt.Fprintln(c.App.ErrWriter, e.Error())
	}
	rows := make([]audit.Result, len(partners))
	for i, p := range partners {
		rows[i].Partner = p
	}
	return rows, audit.UsedByDeclaration, nil
}

// rootsNow is --now, or the current time.
func rootsNow(c *cli.Context) (time.Time, error) {
	if s := c.String("now"); s != "" {
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return t, cli.Exit("--now: want YYYY-MM-DD: "+err.Error(), exitUsage)
		}
		return t, nil
	}
	return time.Now().UTC(), nil
}

// rootWarnings sorts the trust store's warnings: unreadable files are
// returned, a doubtful root becomes a finding of that root (and a line on stderr).
func rootWarnings(c *cli.Context, dir string, warnings []error, roots []audit.PrivateRoot) []reports.LoadError {
	var errs []reports.LoadError
	for _, w := range warnings {
		var fe *trust.FileError
		var rw *trust.RootWarning
		switch {
		case errors.As(w, &fe):
			errs = append(errs, reports.LoadError{File: fe.File, Message: fe.Err.Error()})
		case errors.As(w, &rw):
			for i := range roots {
				if r := &roots[i]; r.File == rw.File && r.Subject == rw.Subject {
					r.Findings = append(r.Findings, audit.Finding{Check: "private-root", Severity: audit.Warning, Message: rw.Reason})
				}
			}
			fmt.Fprintln(c.App.ErrWriter, "warning:", w)
		default:
			errs = append(errs, reports.LoadError{File: dir, Message: w.Error()})
		}
	}
	return errs
}

func printRoots(c *cli.Context, rl reports.RootsLifecycle) error {
	tpl, err := templates.Load(c.String("templates"))
	if err != nil {
		return fmt.Errorf("--templates: %w", err)
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tNOT AFTER\tDAYS\tFILE\tSUBJECT\tSHA-1\tACTION")
	for _, r := range rl.Roots {
		act, err := reports.RootAction(tpl, r, rl.Thresholds)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Status, r.NotAfter.Format("2006-01-02"), r.DaysLeft, r.File, r.Subject, r.SHA1, act)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range rl.Errors {
		fmt.Fprintf(c.App.ErrWriter, "unreadable: %s: %s\n", e.File, strings.TrimSpace(e.Message))
	}
	return nil
}

func writeRootsFiles(c *cli.Context, out string, rl reports.RootsLifecycle) error {
	opts, formats, err := reportOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	for _, f := range formats {
		var (
			name string
			b    strings.Builder
			err  error
		)
		switch f {
		case reports.XLSX:
			name, err = reports.FileRootsXLSX, reports.WriteRootsXLSX(&b, rl, opts)
		case reports.PDF:
			name, err = reports.FileRootsPDF, reports.WriteRootsPDF(&b, rl, opts)
		case reports.JSON:
			name, err = reports.FileRootsJSON, reports.WriteRootsJSON(&b, rl)
		case reports.CSV:
			name, err = reports.FileRootsCSV, reports.WriteRootsCSV(&b, rl.Roots, rl.Thresholds, opts)
		}
		if err != nil {
			return cli.Exit(fmt.Sprintf("%s: %v", name, err), exitInternal)
		}
		p := filepath.Join(out, name)
		if err := audit.WriteFileAtomic(p, []byte(b.String())); err != nil {
			return cli.Exit(err.Error(), exitInternal)
		}
		fmt.Fprintln(c.App.Writer, p)
	}
	return nil
}
