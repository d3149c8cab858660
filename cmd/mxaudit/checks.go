package main

import (
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/urfave/cli/v2"
)

// checkFlags are the flags choosing and configuring checks (scan, demo).
func checkFlags() []cli.Flag {
	return []cli.Flag{
		pluginsDirFlag(),
		&cli.StringSliceFlag{Name: "checks", Usage: "run only these checks (`NAME`s, comma-separated; see mxaudit plugins list)"},
		&cli.StringSliceFlag{Name: "skip-checks", Usage: "do not run these checks (`NAME`s, comma-separated)"},
		&cli.StringFlag{Name: "config", Usage: "TOML `FILE` with a [checks.NAME] table of settings per check", EnvVars: []string{"MXAUDIT_CONFIG"}},
		checkTimeoutFlag(),
	}
}

func pluginsDirFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "plugins-dir", Usage: "look for mxaudit-check-* plugins in `DIR` (repeatable; default ./plugins.d, then $XDG_CONFIG_HOME/mxaudit/plugins)", EnvVars: []string{"MXAUDIT_PLUGINS_DIR"}}
}

func checkTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "check-timeout", Value: checks.DefaultTimeout, Usage: "give a check plugin this long per batch (and to start) before it counts as failed"}
}

// openChecks starts the built-in checks and the plugins of --plugins-dir.
func openChecks(c *cli.Context, log *slog.Logger) (*checks.Host, error) {
	dirs := checks.DefaultDirs()
	if c.IsSet("plugins-dir") {
		dirs = c.StringSlice("plugins-dir")
		for _, d := range dirs {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				log.Warn("--plugins-dir is not a directory; no plugins from it", "dir", d)
			}
		}
	}
	paths, err := checks.Discover(dirs)
	if err != nil {
		return nil, err
	}
	return checks.Open(c.Context, checks.Options{
		Builtin: builtinCommand,
		Plugins: paths,
		Timeout: c.Duration("check-timeout"),
		Logger:  log,
	}), nil
}

// builtinCommand re-executes this binary to serve the built-in checks.
func builtinCommand() *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "plugin", "serve")
	cmd.Args[0] = os.Args[0] // the name this binary was started as (tests dispatch on it)
	return cmd
}

// applyChecks runs every selected check over res and merges the findings;
// it returns an error only for a usage error (unknown check, bad config).
// Ctrl-C stops the checks, kills the plugins and marks res incomplete.
func applyChecks(c *cli.Context, res *audit.Results, log *slog.Logger) error {
	cfg := checks.Config{}
	if p := c.String("config"); p != "" {
		var err error
		if cfg, err = checks.LoadConfig(p); err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.Context = ctx
	h, err := openChecks(c, log)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	defer h.Close()
	start := time.Now()
	err = h.Run(ctx, res, checks.Selection{Only: c.StringSlice("checks"), Skip: c.StringSlice("skip-checks")}, cfg)
	var ue *checks.UsageError
	switch {
	case errors.As(err, &ue):
		return cli.Exit(err.Error(), exitUsage)
	case err != nil:
		res.Incomplete = true
		log.Warn("checks interrupted; results are incomplete", "error", err)
		return nil
	}
	log.Info("checks done", "checks", len(h.Checks()), "failed_plugins", len(h.Failures()), "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}
