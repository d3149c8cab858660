package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	goplugin "github.com/hashicorp/go-plugin"
	"github.com/mxaudit/mxaudit/internal/checks/builtin"
	"github.com/urfave/cli/v2"
)

// pluginsCommand is `mxaudit plugins list`.
func pluginsCommand() *cli.Command {
	return &cli.Command{
		Name:  "plugins",
		Usage: "list the checks (built-in and mxaudit-check-* plugins)",
		Subcommands: []*cli.Command{{
			Name:   "list",
			Usage:  "show each check: name, version, plugin (built-in or its path), description",
			Flags:  []cli.Flag{pluginsDirFlag(), checkTimeoutFlag(), &cli.BoolFlag{Name: "long", Aliases: []string{"l"}, Usage: "also show severity, citation and settings"}},
			Action: pluginsList,
		}},
	}
}

func pluginsList(c *cli.Context) error {
	h, err := openChecks(c, logger(c))
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	defer h.Close()
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVERSION\tPLUGIN\tDESCRIPTION")
	for _, k := range h.Checks() {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Name, k.Version, k.Plugin, k.Description)
		if c.Bool("long") {
			fmt.Fprintf(w, "\t\t\tseverity up to %s; by %s; see %s\n", k.Severity, k.Author, k.Citation)
			for _, s := range k.Config {
				fmt.Fprintf(w, "\t\t\tsetting %s (default %q): %s\n", s.Name, s.Default, s.Description)
			}
		}
	}
	for _, f := range h.Failures() {
		fmt.Fprintf(w, "%s\t-\t%s\tFAILED: %s\n", f.Name, f.Plugin, strings.ReplaceAll(f.Err.Error(), "\n", " "))
	}
	return w.Flush()
}

// pluginCommand is the hidden `mxaudit plugin serve` that serves the built-in checks to mxaudit itself.
func pluginCommand() *cli.Command {
	return &cli.Command{
		Name:   "plugin",
		Hidden: true,
		Subcommands: []*cli.Command{{
			Name:  "serve",
			Usage: "serve the built-in checks over the go-plugin check protocol (started by mxaudit)",
			Action: func(*cli.Context) error {
				builtin.Serve()
				return nil
			},
		}},
	}
}

// cleanupPlugins kills every plugin process still running; main defers it.
func cleanupPlugins() { goplugin.CleanupClients() }
