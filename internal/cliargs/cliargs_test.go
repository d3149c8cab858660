package cliargs

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// app has the shape of mxaudit's: global flags, commands with value and
// bool flags, and a command with subcommands.
func app() *cli.App {
	return &cli.App{
		Name: "mxaudit",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}},
			&cli.StringFlag{Name: "log-format"},
		},
		Commands: []*cli.Command{
			{Name: "probe", Flags: []cli.Flag{
				&cli.StringFlag{Name: "address"},
				&cli.StringFlag{Name: "roots"},
				&cli.DurationFlag{Name: "timeout"},
				&cli.BoolFlag{Name: "enforced"},
				&cli.BoolFlag{Name: "offline"},
			}},
			{Name: "plugins", Subcommands: []*cli.Command{{Name: "list", Flags: []cli.Flag{&cli.BoolFlag{Name: "long", Aliases: []string{"l"}}}}}},
			{Name: "diff", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}}},
			{Name: "report", Flags: []cli.Flag{&cli.StringFlag{Name: "out", Aliases: []string{"o"}}}},
		},
	}
}

func TestFlagsFirst(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags after the host", []string{"mxaudit", "probe", "mx.p.example", "--address", "127.0.0.1", "--enforced", "--roots=r.pem"},
			[]string{"mxaudit", "probe", "--address", "127.0.0.1", "--enforced", "--roots=r.pem", "mx.p.example"}},
		{"already in order", []string{"mxaudit", "probe", "--timeout", "5s", "mx.p.example"},
			[]string{"mxaudit", "probe", "--timeout", "5s", "mx.p.example"}},
		{"global flags before the command", []string{"mxaudit", "--log-format", "json", "--quiet", "probe", "mx.p.example", "--offline"},
			[]string{"mxaudit", "--log-format", "json", "--quiet", "probe", "--offline", "mx.p.example"}},
		{"a bool flag takes no value", []string{"mxaudit", "probe", "--enforced", "mx.p.example"},
			[]string{"mxaudit", "probe", "--enforced", "mx.p.example"}},
		{"an alias takes a value", []string{"mxaudit", "report", "x", "-o", "dir"}, []string{"mxaudit", "report", "-o", "dir", "x"}},
		{"subcommands", []string{"mxaudit", "plugins", "list", "-l"}, []string{"mxaudit", "plugins", "list", "-l"}},
		{"after -- everything is an argument", []string{"mxaudit", "diff", "--", "-1", "2"}, []string{"mxaudit", "diff", "--", "-1", "2"}},
		{"flags before --", []string{"mxaudit", "diff", "3", "--json", "--", "-1"}, []string{"mxaudit", "diff", "--json", "3", "--", "-1"}},
		{"- is an argument", []string{"mxaudit", "probe", "-", "--offline"}, []string{"mxaudit", "probe", "--offline", "-"}},
		{"a flag without its value at the end", []string{"mxaudit", "probe", "mx.p.example", "--address"}, []string{"mxaudit", "probe", "--address", "mx.p.example"}},
		{"unknown command left alone", []string{"mxaudit", "frobnicate", "x", "--y"}, []string{"mxaudit", "frobnicate", "x", "--y"}},
		{"completion left alone", []string{"mxaudit", "probe", "x", "--generate-bash-completion"}, []string{"mxaudit", "probe", "x", "--generate-bash-completion"}},
		{"program name only", []string{"mxaudit"}, []string{"mxaudit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FlagsFirst(app(), tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
