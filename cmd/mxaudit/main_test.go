package main

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mxaudit": func() { os.Exit(realMain(os.Args)) },
	})
}

// TestScripts runs the end-to-end scripts in testdata/script against a
// simulated partner fleet on 127.0.0.0/8 started for each script; the
// fleet's inventory.csv, roots.pem and private-roots/ are in $WORK.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			f, err := fleet.Start(fleet.Options{Hostile: true, NoDNS: true})
			if err != nil {
				return err
			}
			env.Defer(f.Close)
			env.Values["fleet"] = f
			if _, _, _, err := f.WriteFiles(env.WorkDir); err != nil {
				return err
			}
			for _, s := range f.Scenarios {
				key := strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_").Replace(s.Partner.Domain))
				key = strings.TrimSuffix(key, ".EXAMPLE")
				env.Setenv("ADDR_"+key, s.Partner.Address)
			}
			env.Setenv("XDG_STATE_HOME", env.WorkDir+"/state")
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/config")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"verdicts": cmdVerdicts,
			"exitcode": cmdExitCode,
			"expand":   cmdExpand,
			"sleep":    cmdSleep,
			"fleet":    cmdFleet,
			"dropline": cmdDropLine,
			"changes":  cmdChanges,
			"emltext":  cmdEMLText,
		},
	})
}

// verdicts FILE PARTNER VERDICT... asserts the partner's verdicts in a results.json.
func cmdVerdicts(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: verdicts results.json PARTNER VERDICT...")
	}
	res, err := audit.ReadResults(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	for _, r := range res.Partners {
		if r.Name != args[1] {
			continue
		}
		var got []string
		for _, v := range r.Verdicts {
			got = append(got, string(v))
		}
		if eq := slices.Equal(got, args[2:]); eq == neg {
			ts.Fatalf("%s: verdicts %v, want %v", args[1], got, args[2:])
		}
		return
	}
	ts.Fatalf("%s: no such partner in %s", args[1], args[0])
}

// exitcode N PROGRAM ARGS... runs a program and asserts its exit code.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N program args...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exit code %q: %v", args[0], err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%v", err)
	}
	if (got == want) == neg {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// expand FILE... replaces $VAR and ${VAR} in files with the script's environment.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	for _, f := range args {
		data := os.Expand(ts.ReadFile(f), ts.Getenv)
		if err := os.WriteFile(ts.MkAbs(f), []byte(data), 0o644); err != nil {
			ts.Fatalf("%v", err)
		}
	}
}

// sleep DURATION pauses the script.
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("sleep: %v", err)
	}
	time.Sleep(d)
}

// fleet rotate|fix-chain|stop PARTNER changes a simulated partner between scans.
func cmdFleet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: fleet rotate|fix-chain|stop PARTNER")
	}
	f := ts.Value("fleet").(*fleet.Fleet)
	sc := f.Scenario(args[1])
	if sc == nil || sc.Server == nil {
		ts.Fatalf("no server for %q", args[1])
	}
	switch args[0] {
	case "rotate":
		if err := f.Rotate(args[1]); err != nil {
			ts.Fatalf("%v", err)
		}
	case "fix-chain":
		sc.Server.Update(func(b *fleet.Behavior) {
			b.Cert.Certificate = append(b.Cert.Certificate[:1:1], f.PublicInter.Cert.Raw)
		})
	case "stop":
		sc.Server.Close()
	default:
		ts.Fatalf("unknown fleet action %q", args[0])
	}
}

// dropline FILE TEXT removes the lines of FILE that contain TEXT.
func cmdDropLine(ts *testscript.TestScript, neg bool, args []string) {
	var keep []string
	for _, l := range strings.SplitAfter(ts.ReadFile(args[0]), "\n") {
		if !strings.Contains(l, args[1]) {
			keep = append(keep, l)
		}
	}
	if err := os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(keep, "")), 0o644); err != nil {
		ts.Fatalf("%v", err)
	}
}

// changes FILE PARTNER KIND asserts that results.json reports exactly one change of KIND for PARTNER.
func cmdChanges(ts *testscript.TestScript, neg bool, args []string) {
	res, err := audit.ReadResults(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	n := 0
	for _, ch := range res.Changes {
		if ch.Partner == args[1] && ch.Kind == args[2] {
			n++
		}
	}
	if (n == 1) == neg {
		ts.Fatalf("%s: %d changes of kind %s; all changes: %+v", args[1], n, args[2], res.Changes)
	}
}
