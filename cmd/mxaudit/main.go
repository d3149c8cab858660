// Command mxaudit audits the TLS of mail partners: it reads a partner
// inventory, probes every partner over SMTP, names what is wrong with each
// certificate chain the way Exchange admins know it, runs checks over it
// and writes reports.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/internal/cliargs"
	"github.com/mxaudit/mxaudit/internal/pipeline"
)

// Exit codes: pipeline.ExitCode is their one mapping from errors.
const (
	exitOK          = pipeline.ExitOK
	exitFindings    = pipeline.ExitFindings
	exitUsage       = pipeline.ExitUsage
	exitInternal    = pipeline.ExitInternal
	exitLocked      = pipeline.ExitLocked
	exitInterrupted = pipeline.ExitInterrupted
)

var version = "dev"

func main() {
	code := realMain(os.Args)
	cleanupPlugins() // every plugin process is gone when mxaudit exits
	os.Exit(code)
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "mxaudit",
		Usage:   "audit the TLS of your mail partners",
		Version: version,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors on stderr (for cron)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json"},
		},
		Commands: []*cli.Command{
			// one line per command; each lives in a file of its name
			scanCommand(),
			probeCommand(),
			demoCommand(),
			pluginsCommand(),
			pluginCommand(),
			historyCommand(),
			diffCommand(),
			reportCommand(),
			rootsCommand(),
			mailCommand(),
			completionCommand(),
		},
		EnableBashCompletion: true,
		ExitErrHandler:       func(*cli.Context, error) {}, // run() maps errors to exit codes
	}
}

// realMain executes the CLI and returns the process exit code.
func realMain(args []string) int {
	app := newApp()
	err := app.Run(cliargs.FlagsFirst(app, args))
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, "mxaudit:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "mxaudit:", err)
	return exitUsage
}

// logger returns the structured logger the global flags ask for.
func logger(c *cli.Context) *slog.Logger { return loggerAt(c, slog.LevelInfo) }

// loggerAt is logger with level as the least level logged without --quiet.
func loggerAt(c *cli.Context, level slog.Level) *slog.Logger {
	if c.Bool("quiet") {
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.String("log-format") == "json" {
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts))
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts))
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o755) }
