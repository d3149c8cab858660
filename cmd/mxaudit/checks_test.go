package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

var (
	checksBuildOnce sync.Once
	checksBuildDir  string
	checksBuildErr  error
)

// checksPlugins builds the example plugin and the broken test plugin once.
func checksPlugins(t *testing.T) string {
	checksBuildOnce.Do(func() {
		if checksBuildDir, checksBuildErr = os.MkdirTemp("", "mxaudit-checks-"); checksBuildErr != nil {
			return
		}
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		for name, pkg := range map[string]string{
			"mxaudit-check-allowed-ca": "github.com/mxaudit/mxaudit/plugins/examples/allowed-ca",
			"brokenplugin":             "github.com/mxaudit/mxaudit/internal/checks/testdata/brokenplugin",
		} {
			if out, err := exec.Command(goBin, "build", "-o", filepath.Join(checksBuildDir, name), pkg).CombinedOutput(); err != nil {
				checksBuildErr = &exec.Error{Name: "go build " + pkg, Err: errorString(out)}
				return
			}
		}
	})
	if checksBuildErr != nil {
		t.Fatal(checksBuildErr)
	}
	return checksBuildDir
}

type errorString []byte

func (e errorString) Error() string { return string(e) }

// TestChecksScripts runs testdata/checks: scans of the fleet with the
// example plugin and broken plugins (crash, hang, wrong protocol version,
// garbage answers, not a plugin at all) in $WORK/plugins.
func TestChecksScripts(t *testing.T) {
	bin := checksPlugins(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/checks",
		Setup: func(env *testscript.Env) error {
			if _, err := startFleet(env, fleet.Options{NoDNS: true}); err != nil {
				return err
			}
			dir := filepath.Join(env.WorkDir, "plugins")
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			if err := os.Symlink(filepath.Join(bin, "mxaudit-check-allowed-ca"), filepath.Join(dir, "mxaudit-check-allowed-ca")); err != nil {
				return err
			}
			for _, mode := range []string{"crash", "hang", "badversion", "garbage"} {
				if err := os.Symlink(filepath.Join(bin, "brokenplugin"), filepath.Join(dir, "mxaudit-check-"+mode)); err != nil {
					return err
				}
			}
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "xdg"))
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
			return os.WriteFile(filepath.Join(dir, "mxaudit-check-notplugin"), []byte("#!/bin/sh\necho I am not a plugin\n"), 0o755)
		},
		Cmds: scriptCmds(map[string]scriptCmd{"finding": cmdFinding, "noprocs": cmdNoProcs}),
	})
}

// finding FILE PARTNER CHECK REGEXP asserts that the partner in a
// results.json has a finding of CHECK whose "severity: message" matches REGEXP.
func cmdFinding(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 4 {
		ts.Fatalf("usage: finding results.json PARTNER CHECK REGEXP")
	}
	res, err := audit.ReadResults(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	re, err := regexp.Compile(args[3])
	if err != nil {
		ts.Fatalf("%v", err)
	}
	for _, r := range res.Partners {
		if r.Name != args[1] {
			continue
		}
		var seen []string
		for _, f := range r.Findings {
			if f.Check == args[2] {
				s := string(f.Severity) + ": " + f.Message
				seen = append(seen, s)
				if re.MatchString(s) {
					if neg {
						ts.Fatalf("%s: unexpected %s finding %q", args[1], args[2], s)
					}
					return
				}
			}
		}
		if !neg {
			ts.Fatalf("%s: no %s finding matches %q; %s findings: %q", args[1], args[2], args[3], args[2], seen)
		}
		return
	}
	ts.Fatalf("%s: no such partner in %s", args[1], args[0])
}

// noprocs DIR asserts that no running process was started from an executable in DIR.
func cmdNoProcs(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: noprocs DIR")
	}
	dir := ts.MkAbs(args[0])
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(b), "\x00")
		if strings.HasPrefix(argv0, dir+string(filepath.Separator)) {
			st, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
			if i := strings.LastIndexByte(string(st), ')'); i > 0 && strings.HasPrefix(strings.TrimSpace(string(st[i+1:])), "Z") {
				continue // a zombie has exited
			}
			ts.Fatalf("plugin process still running: %s (%s)", argv0, filepath.Dir(p))
		}
	}
}

// TestChecksInterrupt sends SIGINT to a scan while a plugin hangs: the scan
// ends at once, the partners carry CheckFailed "interrupted", the results
// are marked incomplete, and no plugin process is left.
func TestChecksInterrupt(t *testing.T) {
	bin := checksPlugins(t)
	work := t.TempDir()
	f, err := fleet.Start(fleet.Options{NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ns, err := f.ServeDNS(fleet.DNSOptions{}) // every lookup to the fleet, none to the system's resolvers
	if err != nil {
		t.Fatal(err)
	}
	inv, roots, _, err := f.WriteFiles(work)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(bin, "brokenplugin"), filepath.Join(dir, "mxaudit-check-hang")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "out")
	cmd := exec.Command(os.Args[0], "scan", "--inventory", inv, "--roots", roots, "--out", out, "--timeout", "2s",
		"--plugins-dir", dir, "--check-timeout", "1m", "--resolver", ns.Addr)
	cmd.Args[0] = "mxaudit" // testscript.Main runs mxaudit's main under this name
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+filepath.Join(work, "state"), "XDG_CONFIG_HOME="+filepath.Join(work, "xdg"), "HOME="+work)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var log strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(log.String(), "plugintest: hanging on purpose") {
		n, err := stderr.Read(buf)
		log.Write(buf[:n])
		if err != nil {
			t.Fatalf("scan ended before the plugin hung: %v\n%s", err, log.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	log.Write(rest)
	werr := cmd.Wait()
	t.Logf("scan after SIGINT: %v\n%s", werr, log.String())
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("exit code %d after SIGINT during the checks, want %d", code, exitInterrupted)
	}
	res, err := audit.ReadResults(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Incomplete {
		t.Error("results not marked incomplete")
	}
	for _, r := range res.Partners {
		found := false
		for _, f := range r.Findings {
			found = found || f.Check == "CheckFailed" && strings.Contains(f.Message, "check hang (") && strings.Contains(f.Message, "interrupted")
		}
		if !found {
			t.Errorf("%s: no CheckFailed interrupted finding: %+v", r.Name, r.Findings)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.HasPrefix(string(b), dir+"/") {
			t.Errorf("plugin process left after SIGINT: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}
