// Package cliargs puts a command line in the order urfave/cli v2 reads it:
// each command's flags before its positional arguments, so that
// `mxaudit probe mx.partner.example --address 192.0.2.7` works as admins
// type it (urfave/cli v2 stops reading flags at the first argument).
package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// FlagsFirst returns args (program name first) with the flags of the command
// they invoke moved before its positional arguments. Everything after "--"
// stays positional; a line that names no command of app, and a shell
// completion request, are returned as they are.
func FlagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args // completion asks about the words exactly as typed
	}
	head, rest, flags, found := command(app, args[1:])
	if !found {
		return args // not a command of ours: let cli say so
	}
	fl, pos := split(flags, rest)
	out := append([]string{args[0]}, head...)
	out = append(out, fl...)
	return append(out, pos...)
}

// command walks the global flags, the command and its subcommands at the
// start of args: it returns those words, the words after them, the flags of
// the command found, and whether a command was found.
func command(app *cli.App, args []string) (head, rest []string, flags []cli.Flag, found bool) {
	flags, cmds, rest := app.Flags, app.Commands, args
	for len(rest) > 0 {
		a := rest[0]
		if isFlag(a) && a != "--" {
			n := 1
			if takesValue(flags, a) && len(rest) > 1 {
				n = 2
			}
			head, rest = append(head, rest[:n]...), rest[n:]
			continue
		}
		cmd := findCommand(cmds, a)
		if cmd == nil {
			break
		}
		head, rest, found = append(head, a), rest[1:], true
		flags, cmds = cmd.Flags, cmd.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	return head, rest, flags, found
}

// split separates the command's flags (with their values) from its positional arguments.
func split(flags []cli.Flag, args []string) (fl, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return fl, append(pos, args[i:]...)
		case isFlag(a):
			fl = append(fl, a)
			if takesValue(flags, a) && i+1 < len(args) {
				i++
				fl = append(fl, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	return fl, pos
}

// isFlag reports whether a looks like a flag ("-" alone is an argument: stdin).
func isFlag(a string) bool { return strings.HasPrefix(a, "-") && a != "-" }

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
