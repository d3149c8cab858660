package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory"
	"github.com/mxaudit/mxaudit/internal/pipeline"
	"github.com/mxaudit/mxaudit/internal/revocation"
	"github.com/mxaudit/mxaudit/internal/trust"
)

// exitInterrupted is the exit code of a scan stopped by Ctrl-C or SIGTERM (128+SIGINT, as shells report it).
const exitInterrupted = 130

func scanCommand() *cli.Command {
	return &cli.Command{
		Name:      "scan",
		Usage:     "audit every partner of an inventory",
		ArgsUsage: " ",
		Description: "Reads the partner inventory, probes every partner over SMTP and TLS, verifies each\n" +
			"chain against the system roots and the imported private roots, runs the checks, and\n" +
			"writes results.json and the reports into --out.",
		Flags:  append([]cli.Flag{&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "partner inventory CSV `FILE`", Required: true}}, scanFlags()...),
		Action: func(c *cli.Context) error { return scan(c, nil) },
	}
}

// scanFlags are the flags shared by scan and demo.
func scanFlags() []cli.Flag {
	fl := []cli.Flag{
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "mxaudit-out", Usage: "write results.json and reports into `DIR`"},
		&cli.StringFlag{Name: "private-roots", Usage: "`DIR` of imported private root CAs (.cer .crt .pem .der .p7b .p7c .sst)", EnvVars: []string{"MXAUDIT_PRIVATE_ROOTS"}},
		&cli.StringFlag{Name: "roots", Usage: "use only the roots in `FILE` instead of the system roots (hermetic runs)"},
		&cli.StringFlag{Name: "helo", Usage: "`NAME` to send in EHLO (default: this machine's host name)"},
		&cli.DurationFlag{Name: "connect-timeout", Value: 10 * time.Second, Usage: "TCP connect timeout"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "deadline for a whole probe"},
		&cli.IntFlag{Name: "concurrency", Value: 100, Usage: "probes at once"},
		&cli.IntFlag{Name: "per-host", Value: 2, Usage: "probes at once to one IP address"},
		&cli.Float64Flag{Name: "rate", Usage: "new probes per second at most (0: no limit)"},
		&cli.BoolFlag{Name: "strict", Usage: "abort before probing when the inventory has a bad row (exit code 2)"},
		&cli.StringFlag{Name: "fail-on", Value: "error", Usage: "exit 1 when a partner has a finding at or above `SEVERITY` (info, warning, error, critical)"},
	}
	fl = append(fl, revocationFlags()...)
	fl = append(fl, clientCertFlags()...)
	fl = append(fl, checkFlags()...)
	fl = append(fl, historyFlags()...)
	fl = append(fl, reportFlags()...)
	return fl
}

func revocationFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "revocation-timeout", Value: revocation.DefaultTimeout, Usage: "deadline for one CRL, OCSP or AIA fetch"},
		&cli.BoolFlag{Name: "no-revocation", Usage: "do not check CRLs and OCSP (AIA chain completion still runs)"},
		&cli.BoolFlag{Name: "offline", Usage: "fetch nothing: no CRL, OCSP or AIA; revocation is reported as not checked"},
	}
}

// newRevocation returns the run's one fetcher: every URL is fetched once per run.
func newRevocation(c *cli.Context) *revocation.Fetcher {
	return revocation.NewFetcher(revocation.Options{
		Timeout:      c.Duration("revocation-timeout"),
		Offline:      c.Bool("offline"),
		NoRevocation: c.Bool("no-revocation"),
	})
}

// scan runs the whole pipeline: inventory -> probe -> verify -> checks -> reports.
// resolver replaces DNS (the demo's fleet); nil means the system resolver.
func scan(c *cli.Context, resolver pipeline.Resolver) error {
	log := logger(c)
	failOn, err := audit.ParseSeverity(c.String("fail-on"))
	if err != nil {
		return cli.Exit("--fail-on: "+err.Error(), exitUsage)
	}
	invPath := c.String("inventory")
	partners, invErrs, err := inventory.ReadFile(invPath)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	for _, e := range invErrs {
		fmt.Fprintln(c.App.ErrWriter, e.Error())
	}
	if len(invErrs) > 0 && c.Bool("strict") {
		return cli.Exit(fmt.Sprintf("%s: %d bad rows; nothing probed (--strict)", invPath, len(invErrs)), exitUsage)
	}
	tr, err := loadTrust(c, log)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	out := c.String("out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	// The history lock is taken before any probe, so two cron scans never overlap.
	hist, err := openHistory(c, invPath, log)
	if err != nil {
		return err
	}
	defer hist.Close()

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	now := time.Now()
	popts, err := probeOptions(c, log, now)
	if err != nil {
		return err
	}
	opts := pipeline.Options{
		Concurrency:  c.Int("concurrency"),
		PerHost:      c.Int("per-host"),
		Rate:         c.Float64("rate"),
		Probe:        popts,
		Resolver:     resolver,
		Roots:        tr.Pool,
		Source:       tr.Source,
		PrivateRoots: tr.PrivateRoots(now),
		Now:          now,
	}
	opts.Inspect = newRevocation(c).Inspector(tr.Pool, now)
	if isTerminal(c.App.ErrWriter) && !c.Bool("quiet") {
		opts.Progress = c.App.ErrWriter
	}
	log.Info("scan started", "partners", len(partners), "inventory", invPath)
	res := pipeline.Run(ctx, partners, opts)
	stop()
	res.Inventory = invPath
	res.InventoryErrors = append(res.InventoryErrors, invErrs...)

	if err := applyChecks(c, res, log); err != nil {
		return err
	}
	if err := hist.Record(res); err != nil {
		return err
	}
	if err := finishScan(c, res, out, log); err != nil {
		return err
	}
	summarize(c.App.Writer, res, filepath.Join(out, "results.json"))
	// Ctrl-C during the probes or during the checks leaves the results incomplete.
	if res.Incomplete {
		return cli.Exit("interrupted: results are incomplete", exitInterrupted)
	}
	if worst := worstSeverity(res); worst.Level() >= failOn.Level() {
		return cli.Exit("", exitFindings)
	}
	return nil
}

// finishScan runs the stages after the probes and writes results.json.
func finishScan(c *cli.Context, res *audit.Results, out string, log *slog.Logger) error {
	path := filepath.Join(out, "results.json")
	if err := audit.WriteResults(path, res); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	log.Info("results written", "file", path, "partners", len(res.Partners))
	return writeReports(c, res, out)
}

func loadTrust(c *cli.Context, log *slog.Logger) (*trust.Store, error) {
	st, err := trust.New(trust.Options{PrivateDir: c.String("private-roots"), RootsFile: c.String("roots")})
	if err != nil {
		return nil, err
	}
	for _, w := range st.Warnings {
		log.Warn(w.Error())
	}
	return st, nil
}

func worstSeverity(res *audit.Results) audit.Severity {
	worst := audit.Info
	for i := range res.Partners {
		if s := res.Partners[i].WorstSeverity(); s.Level() > worst.Level() {
			worst = s
		}
	}
	return worst
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
