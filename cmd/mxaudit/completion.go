package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// completionCommand is `mxaudit completion bash|zsh|fish`: the script to
// source for shell completion of commands and flags.
func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script: mxaudit completion bash|zsh|fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "bash:  source <(mxaudit completion bash)   (or write it to /etc/bash_completion.d/mxaudit)\n" +
			"zsh:   mxaudit completion zsh > \"${fpath[1]}/_mxaudit\"\n" +
			"fish:  mxaudit completion fish > ~/.config/fish/completions/mxaudit.fish",
		Action: func(c *cli.Context) error {
			switch c.Args().First() {
			case "bash":
				fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				fmt.Fprint(c.App.Writer, zshCompletion)
			case "fish":
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return cli.Exit(err.Error(), exitInternal)
				}
				fmt.Fprint(c.App.Writer, s)
			default:
				return cli.Exit("completion: want bash, zsh or fish", exitUsage)
			}
			return nil
		},
	}
}

// The bash and zsh scripts are urfave/cli's autocomplete scripts (MIT), bound to mxaudit.
var bashCompletion = strings.TrimLeft(`
_mxaudit_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:$COMP_CWORD}")
  local opts
  if [[ "$cur" == "-"* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
}
complete -o bashdefault -o default -F _mxaudit_complete mxaudit
`, "\n")

var zshCompletion = strings.TrimLeft(`
#compdef mxaudit

_mxaudit() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

compdef _mxaudit mxaudit
`, "\n")
