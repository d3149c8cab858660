package main

import (
	"log/slog"
	"os"
	"os/exec"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/pipeline"
	"github.com/urfave/cli/v2"
)

// checkFlags are the flags choosing and configuring checks (scan, demo).
func checkFlags() []cli.Flag {
	return []cli.Flag{
		pluginsDirFlag(),
		&cli.StringSliceFlag{Name: "checks", Usage: "run only these checks (`NAME`s, comma-separated; see mxaudit plugins list)"},
		&cli.StringSliceFlag{Name: "skip-checks", Usage: "do not run these checks (`NAME`s, comma-separated)"},
		configFlag(),
		checkTimeoutFlag(),
	}
}

func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Usage: "TOML `FILE`: a [scan] table of flag settings (flag names as keys), a [thresholds] table (min_rsa_bits, min_ec_bits, expiry_warning_days, expiry_error_days, root_expiring_days) and a [checks.NAME] table of settings per check", EnvVars: []string{"MXAUDIT_CONFIG"}}
}

func pluginsDirFlag() cli.Flag {
	return &cli.StringSliceFlag{Name: "plugins-dir", Usage: "look for mxaudit-check-* plugins in `DIR` (repeatable; default ./plugins.d, then $XDG_CONFIG_HOME/mxaudit/plugins)", EnvVars: []string{"MXAUDIT_PLUGINS_DIR"}}
}

func checkTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "check-timeout", Value: checks.DefaultTimeout, Usage: "give a check plugin this long per batch (and to start) before it counts as failed"}
}

// pluginDirs returns --plugins-dir, or the default plugin directories.
func pluginDirs(c *cli.Context, log *slog.Logger) []string {
	if !c.IsSet("plugins-dir") {
		return checks.DefaultDirs()
	}
	dirs := c.StringSlice("plugins-dir")
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			log.Warn("--plugins-dir is not a directory; no plugins from it", "dir", d)
		}
	}
	return dirs
}

// openChecks starts the built-in checks and the plugins of --plugins-dir.
func openChecks(c *cli.Context, log *slog.Logger) (*checks.Plugins, error) {
	paths, err := checks.Discover(pluginDirs(c, log))
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

// checksConfig reads the check flags and the --config file's [checks.*]
// and [thresholds] tables; the thresholds grade the whole run.
func checksConfig(c *cli.Context) (pipeline.Checks, audit.Thresholds, error) {
	f, err := configFile(c)
	if err != nil {
		return pipeline.Checks{}, audit.Thresholds{}, err
	}
	return pipeline.Checks{
		Builtin:  builtinCommand,
		Dirs:     pluginDirs(c, logger(c)),
		Only:     c.StringSlice("checks"),
		Skip:     c.StringSlice("skip-checks"),
		Settings: f.Checks,
		Timeout:  c.Duration("check-timeout"),
	}, f.Thresholds, nil
}

// configFile reads the [checks.NAME] and [thresholds] tables of --config
// (the defaults without one) and warns about each deprecated key in it.
func configFile(c *cli.Context) (checks.File, error) {
	p := c.String("config")
	if p == "" {
		return checks.File{Checks: checks.Config{}, Thresholds: audit.DefaultThresholds()}, nil
	}
	f, err := checks.LoadFile(p)
	if err != nil {
		return checks.File{}, err
	}
	for _, w := range f.Warnings {
		logger(c).Warn(w)
	}
	return f, nil
}
