package main

import (
	"slices"
	"testing"
)

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
		{"subcommands", []string{"mxaudit", "plugins", "list", "-l"}, []string{"mxaudit", "plugins", "list", "-l"}},
		{"after -- everything is an argument", []string{"mxaudit", "diff", "--", "-1", "2"}, []string{"mxaudit", "diff", "--", "-1", "2"}},
		{"unknown command left alone", []string{"mxaudit", "frobnicate", "x", "--y"}, []string{"mxaudit", "frobnicate", "x", "--y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flagsFirst(newApp(), tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
