package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/pgtest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mxaudit": func() { os.Exit(realMain(os.Args)) },
	})
}

// scriptCmd is a testscript command.
type scriptCmd = func(ts *testscript.TestScript, neg bool, args []string)

// scriptCmds returns the commands every script directory has (verdicts,
// exitcode, expand, changes) and extra.
func scriptCmds(extra map[string]scriptCmd) map[string]scriptCmd {
	cmds := map[string]scriptCmd{"verdicts": cmdVerdicts, "exitcode": cmdExitCode, "expand": cmdExpand, "changes": cmdChanges}
	maps.Copy(cmds, extra)
	return cmds
}

// startFleet starts a simulated fleet with opts for one script and its DNS
// server on 127.0.0.1 ($MXAUDIT_RESOLVER: every lookup of a script goes there,
// never to the system's resolvers), writes its inventory.csv, roots.pem and
// private-roots/ into $WORK, and sets $ADDR_<DOMAIN> and $PORT_<DOMAIN> of each
// partner, $STSPORT (its MTA-STS policy host, when it has one) and XDG dirs
// inside $WORK. The fleet is env.Values["fleet"], its DNS server env.Values["dns"].
func startFleet(env *testscript.Env, opts fleet.Options) (*fleet.Fleet, error) {
	f, err := fleet.Start(opts)
	if err != nil {
		return nil, err
	}
	env.Defer(f.Close)
	ns, err := f.ServeDNS(fleet.DNSOptions{})
	if err != nil {
		return nil, err
	}
	env.Values["fleet"], env.Values["dns"] = f, ns
	env.Setenv("MXAUDIT_RESOLVER", ns.Addr)
	if _, _, _, err := f.WriteFiles(env.WorkDir); err != nil {
		return nil, err
	}
	for _, s := range f.Scenarios {
		key := strings.ToUpper(strings.NewReplacer(" ", "_", "-", "_").Replace(s.Partner.Domain))
		key = strings.TrimSuffix(key, ".EXAMPLE")
		env.Setenv("ADDR_"+key, s.Partner.Address)
		if _, port, err := net.SplitHostPort(s.Partner.Address); err == nil {
			env.Setenv("PORT_"+key, port)
		}
	}
	if f.Policies != nil {
		env.Setenv("STSPORT", portOf(f.Policies.Addr))
	}
	env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, "state"))
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, "config"))
	return f, nil
}

// TestScripts runs the end-to-end scripts in testdata/script against a
// simulated partner fleet on 127.0.0.0/8 started for each script; the
// fleet's inventory.csv, roots.pem and private-roots/ are in $WORK.
func TestScripts(t *testing.T) {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import openpyxl").Run() == nil {
			python = p
			break
		}
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			_, err := startFleet(env, fleet.Options{Hostile: true, NoDNS: true})
			return err
		},
		Condition: condition,
		Cmds: scriptCmds(map[string]scriptCmd{
			"pg":         cmdPG,
			"npartners":  cmdNPartners,
			"sleep":      cmdSleep,
			"fleet":      cmdFleet,
			"dropline":   cmdDropLine,
			"signals":    cmdSignals,
			"probeagree": cmdProbeAgree,
			"emltext":    cmdEMLText,
			"pdftext":    cmdPDFText,
			"xlsxsheet":  cmdXLSXSheet,
		}),
	})
}

// condition answers [postgres]: PostgreSQL is installed. Under CI=true a
// missing PostgreSQL is an error, not a skip.
func condition(cond string) (bool, error) {
	if cond != "postgres" {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	_, err := pgtest.BinDir()
	if err != nil && os.Getenv("CI") == "true" {
		return false, err
	}
	return err == nil, nil
}

// pg starts a PostgreSQL server for the script (stopped at its end),
// creates a database, and sets MXAUDIT_DB to its URL and PGPW to the
// password the URL carries (scripts check it is never printed).
func cmdPG(ts *testscript.TestScript, neg bool, args []string) {
	s, err := pgtest.StartServer()
	if err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Defer(s.Stop)
	u, err := s.NewDatabase()
	if err != nil {
		ts.Fatalf("%v", err)
	}
	ts.Setenv("MXAUDIT_DB", u)
	ts.Setenv("PGPW", s.Password())
}

// npartners FILE N asserts that a results.json holds N partner rows.
func cmdNPartners(ts *testscript.TestScript, neg bool, args []string) {
	res, err := audit.ReadResults(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	if n, err := strconv.Atoi(args[1]); err != nil || (n == len(res.Partners)) == neg {
		ts.Fatalf("%s holds %d partners, want %s", args[0], len(res.Partners), args[1])
	}
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

// signals SIG@WHEN[,SIG@WHEN...] PROGRAM ARGS... starts a program, sends it
// each signal in turn, waits for it, and leaves its output in signals.stdout
// and signals.stderr and its exit code in signals.exit (testscript's own
// kill knows only INT and KILL). WHEN is a duration after the step before
// (INT@50ms), or /REGEXP/ with an optional +DURATION: once the program's
// stderr matches (INT@/scan started/+1s), so a slow start under -race or a
// loaded machine cannot make the signal come too early.
func cmdSignals(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: signals SIG@WHEN[,SIG@WHEN...] program args...")
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "MXAUDIT_RESOLVER"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	var stdout strings.Builder
	stderr := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		ts.Fatalf("signals: %v", err)
	}
	for _, step := range strings.Split(args[0], ",") {
		name, when, _ := strings.Cut(step, "@")
		sig := map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "TERM": syscall.SIGTERM}[name]
		if sig == 0 {
			ts.Fatalf("signals: unknown signal %q", name)
		}
		if strings.HasPrefix(when, "/") {
			re, rest, _ := strings.Cut(when[1:], "/")
			waitFor(ts, stderr, regexp.MustCompile(re))
			when = strings.TrimPrefix(rest, "+")
		}
		if when != "" {
			after, err := time.ParseDuration(when)
			if err != nil {
				ts.Fatalf("signals %s: %v", step, err)
			}
			time.Sleep(after)
		}
		cmd.Process.Signal(sig)
	}
	err := cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	for name, s := range map[string]string{"signals.stdout": stdout.String(), "signals.stderr": stderr.String(), "signals.exit": strconv.Itoa(code) + "\n"} {
		if err := os.WriteFile(ts.MkAbs(name), []byte(s), 0o644); err != nil {
			ts.Fatalf("%v", err)
		}
	}
}

// waitFor waits up to a minute for the program's stderr to match re.
func waitFor(ts *testscript.TestScript, b *lockedBuffer, re *regexp.Regexp) {
	for deadline := time.Now().Add(time.Minute); !re.MatchString(b.String()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			ts.Fatalf("signals: stderr never matched %s:\n%s", re, b.String())
		}
	}
}

// lockedBuffer is a strings.Builder safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// probeagree RESULTS ARGS... runs `mxaudit probe --json ARGS...` for every
// partner of a scan's results.json, all at once, and asserts that probe
// names the same verdicts and the same findings (check, severity, message
// with numbers masked: ports differ) as the scan did: scan and probe run one
// pipeline. The private-root check is left out: it judges the whole
// inventory (a root declared by partners whose chains no longer use it).
func cmdProbeAgree(ts *testscript.TestScript, neg bool, args []string) {
	scan, err := audit.ReadResults(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	var wg sync.WaitGroup
	problems := make([]string, len(scan.Partners))
	for i, want := range scan.Partners {
		wg.Go(func() {
			pargs := append([]string{"probe", "--json", "--address", want.Address, "--tls", string(want.TLS)}, args[1:]...)
			if want.Enforced {
				pargs = append(pargs, "--enforced", "--domain", want.Domain)
			}
			if want.ExpectedIssuer != "" {
				pargs = append(pargs, "--expected-issuer", want.ExpectedIssuer)
			}
			if want.ExpectedSubject != "" {
				pargs = append(pargs, "--expected-subject", want.ExpectedSubject)
			}
			pargs = append(pargs, fmt.Sprintf("%s:%d", want.Host, want.Port))
			cmd := exec.Command("mxaudit", pargs...)
			cmd.Dir = ts.MkAbs(".")
			cmd.Env = []string{"PATH=" + ts.Getenv("PATH"), "HOME=" + ts.Getenv("HOME"), "XDG_CONFIG_HOME=" + ts.Getenv("XDG_CONFIG_HOME"), "MXAUDIT_RESOLVER=" + ts.Getenv("MXAUDIT_RESOLVER")}
			out, _ := cmd.Output()
			var got audit.Results
			if err := json.Unmarshal(out, &got); err != nil || len(got.Partners) != 1 {
				problems[i] = fmt.Sprintf("%s: probe printed no result (%v): %s", want.Name, err, out)
				return
			}
			g := got.Partners[0]
			if !slices.Equal(g.Verdicts, want.Verdicts) {
				problems[i] = fmt.Sprintf("%s: probe says %v, scan said %v", want.Name, g.Verdicts, want.Verdicts)
			} else if fg, fw := findingKeys(g.Findings), findingKeys(want.Findings); !slices.Equal(fg, fw) {
				problems[i] = fmt.Sprintf("%s: probe finds %q, scan found %q", want.Name, fg, fw)
			}
		})
	}
	wg.Wait()
	n := 0
	for _, p := range problems {
		if p != "" {
			ts.Logf("%s", p)
			n++
		}
	}
	if (n == 0) == neg {
		ts.Fatalf("probe and scan disagree on %d of %d partners", n, len(scan.Partners))
	}
}

func findingKeys(fs []audit.Finding) []string {
	var out []string
	digits := regexp.MustCompile(`[0-9]+`)
	for _, f := range fs {
		if f.Check != "private-root" {
			out = append(out, fmt.Sprintf("%s/%s/%s", f.Check, f.Severity, digits.ReplaceAllString(f.Message, "N")))
		}
	}
	slices.Sort(out)
	return out
}
