package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
)

// withEnv gives every flag an MXAUDIT_* environment variable named after
// it (--per-host: MXAUDIT_PER_HOST), so each setting of a cron job can come
// from its environment. A flag given on the command line wins.
func withEnv(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		name := "MXAUDIT_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = envVar(f.EnvVars, name)
		case *cli.BoolFlag:
			f.EnvVars = envVar(f.EnvVars, name)
		case *cli.IntFlag:
			f.EnvVars = envVar(f.EnvVars, name)
		case *cli.Float64Flag:
			f.EnvVars = envVar(f.EnvVars, name)
		case *cli.DurationFlag:
			f.EnvVars = envVar(f.EnvVars, name)
		case *cli.StringSliceFlag:
			f.EnvVars = envVar(f.EnvVars, name)
		}
	}
	return flags
}

func envVar(have []string, name string) []string {
	if slices.Contains(have, name) {
		return have
	}
	return append(have, name)
}

// applyConfigFile sets every flag not given on the command line or in the
// environment from the [scan] table of --config (the file that also holds
// the [checks.NAME] tables), so one file describes a cron job. Keys are the
// flag names; an unknown key is a usage error naming the file and the key.
func applyConfigFile(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	var doc struct {
		Scan map[string]any `toml:"scan"`
	}
	_, err := toml.DecodeFile(path, &doc)
	if err != nil {
		return cli.Exit(fmt.Sprintf("config %s: %v", path, err), exitUsage)
	}
	for _, key := range sortedKeys(doc.Scan) {
		if !hasFlag(c.Command.Flags, key) || key == "config" {
			return cli.Exit(fmt.Sprintf("config %s: [scan] %s: no such setting of mxaudit %s (see --help)", path, key, c.Command.Name), exitUsage)
		}
		if c.IsSet(key) {
			continue // the command line and the environment win over the file
		}
		if err := setFlag(c, key, doc.Scan[key]); err != nil {
			return cli.Exit(fmt.Sprintf("config %s: [scan] %s: %v", path, key, err), exitUsage)
		}
	}
	return nil
}

// setFlag sets flag key from a TOML value: a scalar, or an array for a list flag.
func setFlag(c *cli.Context, key string, v any) error {
	vals := []any{v}
	if a, ok := v.([]any); ok {
		vals = a
	}
	for _, e := range vals {
		if err := c.Set(key, fmt.Sprint(e)); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func hasFlag(flags []cli.Flag, name string) bool {
	return slices.ContainsFunc(flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) })
}
