package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pipeline"
	"github.com/mxaudit/mxaudit/internal/revocation"
	"github.com/mxaudit/mxaudit/internal/shard"
	"github.com/mxaudit/mxaudit/internal/trust"
)

func scanCommand() *cli.Command {
	return &cli.Command{
		Name:      "scan",
		Usage:     "audit every partner of an inventory",
		ArgsUsage: " ",
		Description: "Reads the partner inventory, probes every partner over SMTP and TLS, verifies each\n" +
			"chain against the system roots and the imported private roots, runs the checks, and\n" +
			"writes results.json and the reports into --out.",
		Flags:  withEnv(append([]cli.Flag{&cli.StringFlag{Name: "inventory", Aliases: []string{"i"}, Usage: "inventory `FILE` (required): a partner CSV, or your MTA's own TLS policy: a Postfix policy map (/etc/postfix/tls_policy), main.cf, Exchange connector exports (Export-Csv) or TLSSendDomainSecureList"}}, append(scanFlags(), mtaFlags()...)...)),
		Before: applyConfigFile,
		Action: func(c *cli.Context) error { return scan(c, nil) },
	}
}

// scanFlags are the flags shared by scan and demo.
func scanFlags() []cli.Flag {
	fl := []cli.Flag{
		&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "mxaudit-out", Usage: "write results.json and reports into `DIR`"},
		&cli.BoolFlag{Name: "strict", Usage: "abort before probing when the inventory has a bad row (exit code 2)"},
		&cli.StringFlag{Name: "fail-on", Value: "error", Usage: "exit 1 when a partner has a finding at or above `SEVERITY` (info, warning, error, critical)"},
	}
	fl = append(fl, trustFlags()...)
	fl = append(fl, probeFlags()...)
	fl = append(fl, dnsFlags()...)
	fl = append(fl, revocationFlags()...)
	fl = append(fl, clientCertFlags()...)
	fl = append(fl, checkFlags()...)
	fl = append(fl, historyFlags()...)
	fl = append(fl, reportFlags()...)
	return fl
}

func trustFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "private-roots", Usage: "`DIR` of imported private root CAs (.cer .crt .pem .der .p7b .p7c .sst)", EnvVars: []string{"MXAUDIT_PRIVATE_ROOTS"}},
		&cli.StringFlag{Name: "roots", Usage: "use only the roots in `FILE` instead of the system roots (hermetic runs)"},
	}
}

func trustOptions(c *cli.Context) trust.Options {
	return trust.Options{PrivateDir: c.String("private-roots"), RootsFile: c.String("roots")}
}

func probeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "helo", Usage: "`NAME` to send in EHLO (default: this machine's host name)"},
		&cli.DurationFlag{Name: "connect-timeout", Value: 10 * time.Second, Usage: "TCP connect timeout"},
		&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "deadline for a whole probe"},
		&cli.IntFlag{Name: "concurrency", Value: 100, Usage: "probes at once"},
		&cli.IntFlag{Name: "per-host", Value: 2, Usage: "probes at once to one IP address"},
		&cli.Float64Flag{Name: "rate", Usage: "new probes per second at most (0: no limit)"},
	}
}

// probeOptions reads the probe stage's flags; it loads the client certificate and logs the EHLO name.
func probeOptions(c *cli.Context, resolver pipeline.Resolver) (pipeline.Options, error) {
	popts, err := probeSettings(c, logger(c), time.Now())
	if err != nil {
		return pipeline.Options{}, err
	}
	o := pipeline.Options{
		Concurrency: c.Int("concurrency"),
		PerHost:     c.Int("per-host"),
		Rate:        c.Float64("rate"),
		Probe:       popts,
	}
	if err := dnsOptions(c, &o); err != nil {
		return pipeline.Options{}, cli.Exit(err.Error(), exitUsage)
	}
	if resolver != nil {
		o.Resolver = resolver
	}
	return o, nil
}

func revocationFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "revocation-timeout", Value: revocation.DefaultTimeout, Usage: "deadline for one CRL, OCSP or AIA fetch"},
		&cli.BoolFlag{Name: "no-revocation", Usage: "do not check CRLs and OCSP (AIA chain completion still runs)"},
		&cli.BoolFlag{Name: "offline", Usage: "fetch nothing: no CRL, OCSP or AIA; revocation is reported as not checked"},
	}
}

func revocationOptions(c *cli.Context) revocation.Options {
	return revocation.Options{Timeout: c.Duration("revocation-timeout"), Offline: c.Bool("offline"), NoRevocation: c.Bool("no-revocation")}
}

// scan runs the pipeline over --inventory and prints the summary.
// resolver replaces DNS (the demo's fleet); nil means the system resolver.
func scan(c *cli.Context, resolver pipeline.Resolver) error {
	failOn, err := audit.ParseSeverity(c.String("fail-on"))
	if err != nil {
		return cli.Exit("--fail-on: "+err.Error(), exitUsage)
	}
	if c.String("inventory") == "" {
		return cli.Exit("scan: --inventory FILE is required (or MXAUDIT_INVENTORY, or inventory in the [scan] table of --config)", exitUsage)
	}
	cfg, err := scanConfig(c, resolver)
	if err == nil {
		cfg.MTA, err = mtaConfig(c)
	}
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	ctx, stop := pipeline.NotifyInterrupts(c.Context, exitNow)
	defer stop()
	res, err := pipeline.Scan(ctx, cfg)
	if res != nil {
		summarize(c.App.Writer, res, filepath.Join(cfg.Out, "results.json"), c.Bool("quiet"))
	}
	return exitWith(res, err, failOn)
}

// scanConfig reads the scan's flags into the pipeline's configuration.
func scanConfig(c *cli.Context, resolver pipeline.Resolver) (pipeline.Config, error) {
	rep, err := reportsConfig(c)
	if err != nil {
		return pipeline.Config{}, err
	}
	chk, th, err := checksConfig(c)
	if err != nil {
		return pipeline.Config{}, err
	}
	popts, err := probeOptions(c, resolver)
	if err != nil {
		return pipeline.Config{}, err
	}
	sh, err := shard.Parse(c.String("shard"))
	if err != nil {
		return pipeline.Config{}, fmt.Errorf("--shard: %w", err)
	}
	return pipeline.Config{
		Inventory:   c.String("inventory"),
		InventoryID: c.String("inventory-id"),
		Strict:      c.Bool("strict"),
		Trust:       trustOptions(c),
		Revocation:  revocationOptions(c),
		Probe:       popts,
		Thresholds:  th,
		Checks:      chk,
		History:     pipeline.History{Disabled: c.Bool("no-history"), Path: c.String("db")},
		Out:         c.String("out"),
		Reports:     rep,
		Metrics:     c.String("metrics-file"),
		Logger:      logger(c),
		Problems:    c.App.ErrWriter,
		Progress:    progressWriter(c),
		Vantage:     c.String("vantage"),
		RunLabel:    c.String("run-label"),
		Shard:       sh,
	}, nil
}

// exitWith turns a run's outcome into the command's error and exit code.
func exitWith(res *pipeline.Run, err error, failOn audit.Severity) error {
	code := pipeline.ExitCode(res, err, failOn)
	if code == exitOK {
		return nil
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return cli.Exit(msg, code)
}

// exitNow ends the process at a second interrupt, killing the plugins first.
func exitNow() {
	os.Stderr.WriteString("mxaudit: interrupted twice: exiting now\n")
	cleanupPlugins()
	os.Exit(exitInterrupted)
}

// progressWriter is stderr when it is a terminal and --quiet is off.
func progressWriter(c *cli.Context) io.Writer {
	if isTerminal(c.App.ErrWriter) && !c.Bool("quiet") {
		return c.App.ErrWriter
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
