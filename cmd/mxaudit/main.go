// Command mxaudit audits the TLS of mail partners: it reads a partner
// inventory, probes every partner over SMTP, names what is wrong with each
// certificate chain the way Exchange admins know it, runs checks over it
// and writes reports.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK       = 0 // nothing at or above --fail-on
	exitFindings = 1 // something at or above --fail-on
	exitUsage    = 2 // usage error, or a bad inventory under --strict
	exitInternal = 3 // internal failure
)

var version = "dev"

func main() {
	os.Exit(run(os.Args))
}

func newApp() *cli.App {
	return &cli.App{
		Name:     "mxaudit",
		Usage:    "audit the TLS of your mail partners",
		Version:  version,
		Commands: []*cli.Command{
			// one line per command; each lives in a file of its name
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() maps errors to exit codes
	}
}

// run executes the CLI and returns the process exit code.
func run(args []string) int {
	err := newApp().Run(args)
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
