package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst moves each command's flags before its positional arguments,
// so that `mxaudit probe mx.partner.example --address 192.0.2.7` works as
// admins type it: urfave/cli v2 stops reading flags at the first argument.
// Everything after "--" stays positional.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args // completion asks about the words exactly as typed
	}
	out := []string{args[0]}
	rest := args[1:]
	// Global flags, then the command and its subcommands.
	flags := app.Flags
	cmds := app.Commands
	found := false
	for len(rest) > 0 {
		a := rest[0]
		if strings.HasPrefix(a, "-") && a != "-" && a != "--" {
			n := 1
			if takesValue(flags, a) && len(rest) > 1 {
				n = 2
			}
			out = append(out, rest[:n]...)
			rest = rest[n:]
			continue
		}
		cmd := findCommand(cmds, a)
		if cmd == nil {
			break
		}
		out = append(out, a)
		rest = rest[1:]
		found = true
		flags, cmds = cmd.Flags, cmd.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	if !found {
		return args // not a command of ours: let cli say so
	}
	var fl, pos []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(rest) {
				i++
				fl = append(fl, rest[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	out = append(out, fl...)
	return append(out, pos...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// takesValue reports whether the flag token arg (such as "--address" or
// "-o") needs the next argument as its value.
func takesValue(flags []cli.Flag, arg string) bool {
	name := strings.TrimLeft(arg, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if bf, ok := f.(*cli.BoolFlag); ok && bf != nil {
				return false
			}
			return true
		}
	}
	return false
}
