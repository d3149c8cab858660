package checks_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// now is the fixed clock of every test run.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type ca struct{ *fleet.CA }

func newCA(t testing.TB, cn string) ca {
	t.Helper()
	c, err := fleet.NewRoot(fleet.CertSpec{CommonName: cn, Org: "Example", NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(5, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return ca{c}
}

func (c ca) leaf(t testing.TB, host string) audit.Cert {
	t.Helper()
	is, err := c.Issue(fleet.CertSpec{CommonName: host, DNSNames: []string{host}, NotBefore: now.AddDate(0, -1, 0), NotAfter: now.AddDate(0, 6, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return audit.NewCert(is.Cert)
}

// fixture is three partners: one with a certificate from "Allowed CA", one
// from "Other CA", one without STARTTLS; and one private root.
func fixture(t testing.TB) *audit.Results {
	allowed, other := newCA(t, "Allowed CA"), newCA(t, "Other CA")
	return &audit.Results{
		Schema: audit.SchemaVersion, Started: now,
		Partners: []audit.Result{
			{Partner: audit.Partner{Name: "alpha", Host: "mx.alpha.test", Port: 25, TLS: audit.StartTLS},
				Verdict: audit.Valid, Verdicts: []audit.Verdict{audit.Valid}, Chain: []audit.Cert{allowed.leaf(t, "mx.alpha.test")},
				TLSVersion: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", SMTP: audit.SMTP{StartTLS: true, EHLO: []string{"STARTTLS"}}},
			{Partner: audit.Partner{Name: "bravo", Host: "mx.bravo.test", Port: 25, TLS: audit.StartTLS},
				Verdict: audit.UntrustedRoot, Verdicts: []audit.Verdict{audit.UntrustedRoot}, Chain: []audit.Cert{other.leaf(t, "mx.bravo.test")},
				TLSVersion: "TLS 1.2", Cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", SMTP: audit.SMTP{StartTLS: true, EHLO: []string{"STARTTLS"}}},
			{Partner: audit.Partner{Name: "charlie", Host: "mx.charlie.test", Port: 25, TLS: audit.StartTLS, Enforced: true},
				Verdict: audit.NoStartTLS, Verdicts: []audit.Verdict{audit.NoStartTLS}, SMTP: audit.SMTP{EHLO: []string{"SIZE 1000"}}},
		},
		PrivateRoots: []audit.PrivateRoot{{File: "other.cer", Subject: "CN=Other CA,O=Example", NotAfter: now.AddDate(0, 0, 20), UsedBy: []string{"bravo"}}},
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// examplePlugin builds plugins/examples/allowed-ca once per test binary.
func examplePlugin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "mxaudit-example-")
		if buildErr != nil {
			return
		}
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(goBin, "build", "-o", filepath.Join(buildDir, checks.Prefix+"allowed-ca"),
			"github.com/mxaudit/mxaudit/plugins/examples/allowed-ca").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building the example plugin: %v", buildErr)
	}
	return filepath.Join(buildDir, checks.Prefix+"allowed-ca")
}

// pluginDir links the test binary into a temp dir once per role, plus extra files.
func pluginDir(t testing.TB, roles ...string) string {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		if err := os.Symlink(self, filepath.Join(dir, checks.Prefix+r)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func builtinCmd() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"MXAUDIT_TEST_PLUGIN=builtin"}
	return cmd
}

// logSink is a slog handler that keeps messages and can wait for one.
type logSink struct {
	mu    sync.Mutex
	lines []string
	wait  string
	seen  chan struct{}
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *logSink) WithGroup(string) slog.Handler            { return s }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.Key + "=" + a.Value.String()); return true })
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, b.String())
	if s.wait != "" && strings.Contains(b.String(), s.wait) {
		s.wait = ""
		close(s.seen)
	}
	return nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// children lists the pids of this process's live child processes.
func children(t testing.TB) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var out []int
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == me && f[0] != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

func findings(r *audit.Result, check string) []audit.Finding {
	var out []audit.Finding
	for _, f := range r.Findings {
		if f.Check == check {
			out = append(out, f)
		}
	}
	return out
}

// sawPartner returns the echo check's findings about the partner itself.
func sawPartner(r *audit.Result) []audit.Finding {
	var out []audit.Finding
	for _, f := range findings(r, "echo") {
		if strings.HasPrefix(f.Message, "saw "+r.Name+" ") {
			out = append(out, f)
		}
	}
	return out
}

func TestBrokenPluginsDoNotStopTheRun(t *testing.T) {
	dir := pluginDir(t, "crash", "hang", "badversion", "garbage")
	if err := os.Symlink(examplePlugin(t), filepath.Join(dir, checks.Prefix+"allowed-ca")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, checks.Prefix+"notplugin"), []byte("#!/bin/sh\necho hello, I am a shell script\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, checks.Prefix+"not-executable"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err := checks.Discover([]string{dir, filepath.Join(dir, "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 6 {
		t.Fatalf("Discover found %d plugins, want 6: %v", len(paths), paths)
	}
	sink := &logSink{}
	ctx := context.Background()
	h := checks.Open(ctx, checks.Options{Builtin: builtinCmd, Plugins: paths, Timeout: time.Second, Logger: slog.New(sink)})
	defer h.Close()

	res := fixture(t)
	cfg := checks.Config{"allowed-ca": {"issuers": {"CN=Allowed CA, O=Example"}}}
	start := time.Now()
	if err := h.Check(ctx, res, checks.Selection{}, cfg); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("run with 6 plugins took %s", time.Since(start))

	// The example's finding is there, on the right partner only.
	if got := findings(&res.Partners[1], "allowed-ca"); len(got) != 1 || !strings.Contains(got[0].Message, "CN=Other CA, O=Example") || got[0].Severity != audit.Error {
		t.Errorf("bravo allowed-ca findings = %+v, want one error naming CN=Other CA, O=Example", got)
	}
	if got := findings(&res.Partners[0], "allowed-ca"); len(got) != 0 {
		t.Errorf("alpha has allowed-ca findings %+v, want none", got)
	}
	// Built-in checks ran too: the root bravo's chain ends in expires in 20 days.
	if got := findings(&res.Partners[1], "private-root"); len(got) != 1 || got[0].Severity != audit.Warning || !strings.Contains(got[0].Message, "20 days left") {
		t.Errorf("bravo private-root findings = %+v, want one warning", got)
	}

	// Each broken plugin yields CheckFailed with a reason on every partner.
	reasons := map[string]string{
		"crash":      "plugin process exited",
		"hang":       "no answer within 1s",
		"badversion": "incompatible API version with plugin. Plugin version: 2, Client versions: [1]",
		"notplugin":  "Unrecognized remote plugin message: hello, I am a shell script",
		"garbage":    `unknown severity "catastrophic"`,
	}
	for i := range res.Partners {
		failed := findings(&res.Partners[i], checks.CheckFailed)
		for name, reason := range reasons {
			found := false
			for _, f := range failed {
				if strings.Contains(f.Message, checks.Prefix+name) || strings.Contains(f.Message, "check "+name+" ") {
					found = true
					if !strings.Contains(f.Message, reason) {
						t.Errorf("%s: CheckFailed for %s = %q, want reason containing %q", res.Partners[i].Name, name, f.Message, reason)
					}
					if f.Severity != audit.Warning || f.Remedy == "" {
						t.Errorf("%s: CheckFailed for %s has severity %q remedy %q", res.Partners[i].Name, name, f.Severity, f.Remedy)
					}
				}
			}
			if !found {
				t.Errorf("%s: no CheckFailed for %s in %+v", res.Partners[i].Name, name, failed)
			}
		}
		if len(failed) != len(reasons) {
			t.Errorf("%s: %d CheckFailed findings, want %d: %+v", res.Partners[i].Name, len(failed), len(reasons), failed)
		}
	}
	// The plugins' stderr went to the log.
	for _, want := range []string{"panic: plugintest: crashing on purpose", "plugintest: hanging on purpose"} {
		if !strings.Contains(sink.String(), want) {
			t.Errorf("log lacks plugin stderr %q:\n%s", want, sink.String())
		}
	}

	h.Close()
	if !h.Exited() {
		t.Error("a plugin process is still running after Close")
	}
	if kids := children(t); len(kids) > 0 {
		t.Errorf("child processes left after Close: %v", kids)
	}
}

func TestBatchesAndConfig(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, MaxBatch: 3, Logger: slog.New(&logSink{})})
	defer h.Close()

	th := audit.DefaultThresholds()
	th.MinRSABits = 3072
	res := &audit.Results{Started: now, Thresholds: &th} // the thresholds travel in every batch
	for i := range 10 {
		res.Partners = append(res.Partners, audit.Result{Partner: audit.Partner{Name: "p" + strconv.Itoa(i)}})
	}
	res.PrivateRoots = []audit.PrivateRoot{{Subject: "CN=Root A"}, {Subject: "CN=Root B", UsedBy: []string{"p4"}}}
	cfg := checks.Config{"echo": {"tag": {"x1"}, "list": {"a", "b"}}}
	if err := h.Check(context.Background(), res, checks.Selection{Skip: []string{"panics"}}, cfg); err != nil {
		t.Fatal(err)
	}
	for i, r := range res.Partners {
		got := sawPartner(&r)
		if len(got) != 1 {
			t.Fatalf("%s: echo findings %+v, want 1", r.Name, got)
		}
		size := "3"
		if i == 9 {
			size = "1"
		}
		want := "saw " + r.Name + " batch=" + size + " now=2026-03-01 rsa=3072 tag=x1 list=a|b"
		if got[0].Message != want {
			t.Errorf("%s: %q, want %q", r.Name, got[0].Message, want)
		}
	}
	for i, p := range res.PrivateRoots {
		if len(p.Findings) != 1 || p.Findings[0].Message != "saw root "+p.Subject {
			t.Errorf("root %d findings %+v", i, p.Findings)
		}
	}
	// A root warning reaches the partners using the root.
	if f := res.Partners[4].Findings; len(f) != 2 || f[0].Message != "private root CN=Root B: saw root CN=Root B" || f[0].Severity != audit.Warning {
		t.Errorf("p4 findings %+v, want the root's warning first", f)
	}
	if f := res.Partners[3].Findings; len(f) != 1 {
		t.Errorf("p3 findings %+v, want only its own", f)
	}
}

func TestBatchBytes(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, MaxBatchBytes: 5000, Logger: slog.New(&logSink{})})
	defer h.Close()
	res := &audit.Results{Started: now}
	for i := range 5 {
		res.Partners = append(res.Partners, audit.Result{Partner: audit.Partner{Name: "p" + strconv.Itoa(i)},
			SMTP: audit.SMTP{Transcript: []string{strings.Repeat("S: 250-x\r\n", 200)}}}) // ~2 KB each
	}
	if err := h.Check(context.Background(), res, checks.Selection{Only: []string{"echo"}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Partners {
		if got := sawPartner(&r); len(got) != 1 || !strings.Contains(got[0].Message, "batch=2") && !strings.Contains(got[0].Message, "batch=1") {
			t.Errorf("%s: %+v, want batches of at most 2", r.Name, got)
		}
	}
}

func TestPanickingCheckFailsAlone(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, Logger: slog.New(&logSink{})})
	defer h.Close()
	res := fixture(t)
	if err := h.Check(context.Background(), res, checks.Selection{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Partners {
		if len(sawPartner(&r)) != 1 {
			t.Errorf("%s: echo did not run beside the panicking check", r.Name)
		}
		f := findings(&r, checks.CheckFailed)
		if len(f) != 1 || !strings.Contains(f[0].Message, "check panics (") || !strings.Contains(f[0].Message, "panic: index out of range on purpose") {
			t.Errorf("%s: CheckFailed %+v, want one for check panics", r.Name, f)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Builtin: builtinCmd, Plugins: paths, Logger: slog.New(&logSink{})})
	defer h.Close()
	tests := []struct {
		name string
		sel  checks.Selection
		cfg  checks.Config
		want string
	}{
		{"unknown check", checks.Selection{Only: []string{"expiry", "nope"}}, nil, `unknown check "nope"`},
		{"unknown skip", checks.Selection{Skip: []string{"nope"}}, nil, `unknown check "nope"`},
		{"unknown setting", checks.Selection{}, checks.Config{"tls-version": {"min_versoin": {"1.2"}}}, `check tls-version has no setting "min_versoin" (it takes: min_version; thresholds go in [thresholds])`},
		{"a threshold is no check setting", checks.Selection{}, checks.Config{"expiry": {"warning_days": {"30"}}}, `check expiry has no setting "warning_days" (it takes none; thresholds go in [thresholds])`},
		{"bad value", checks.Selection{}, checks.Config{"tls-version": {"min_version": {"soon"}}}, `min_version: unknown TLS version "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := fixture(t)
			err := h.Check(context.Background(), res, tt.sel, tt.cfg)
			var ue *checks.UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want a UsageError containing %q", err, tt.want)
			}
			for _, r := range res.Partners {
				if len(r.Findings) != 0 {
					t.Errorf("%s got findings %+v despite the usage error", r.Name, r.Findings)
				}
			}
		})
	}
}

// TestRetiredCheckNames: a cron job still naming a retired check in
// --checks or --skip-checks runs, with a warning saying what states its
// facts now.
func TestRetiredCheckNames(t *testing.T) {
	sink := &logSink{}
	h := checks.Open(context.Background(), checks.Options{Builtin: builtinCmd, Logger: slog.New(sink)})
	defer h.Close()
	res := fixture(t)
	if err := h.Check(context.Background(), res, checks.Selection{Skip: []string{"pin", "weak-key"}}, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := findings(&res.Partners[1], "private-root"); len(got) != 1 {
		t.Errorf("the other checks did not run: bravo private-root findings %+v", got)
	}
	for _, want := range []string{"check pin was retired: its facts are the IssuerChanged verdict", "check weak-key was retired: its facts are the WeakKey verdict"} {
		if !strings.Contains(sink.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, sink.String())
		}
	}
}

func TestInterruptKillsPlugins(t *testing.T) {
	dir := pluginDir(t, "hang")
	paths, _ := checks.Discover([]string{dir})
	sink := &logSink{wait: "plugintest: hanging on purpose", seen: make(chan struct{})}
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, Logger: slog.New(sink)})
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-sink.seen; cancel() }()
	res := fixture(t)
	start := time.Now()
	err := h.Check(ctx, res, checks.Selection{}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s after cancel", d)
	}
	if f := findings(&res.Partners[0], checks.CheckFailed); len(f) != 1 || !strings.Contains(f[0].Message, "interrupted") {
		t.Errorf("CheckFailed = %+v, want interrupted", f)
	}
	h.Close()
	if kids := children(t); len(kids) > 0 {
		t.Errorf("child processes left after an interrupt: %v", kids)
	}
}

// TestPluginDiesWithHost kills a host with SIGKILL (no cleanup runs) and
// checks that the kernel takes its plugin down too (Pdeathsig).
func TestPluginDiesWithHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Pdeathsig is Linux only")
	}
	dir := pluginDir(t, "echo")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MXAUDIT_TEST_PLUGIN=hostproc", "PLUGIN="+filepath.Join(dir, checks.Prefix+"echo"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var line [32]byte
	n, _ := out.Read(line[:])
	pid, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	if err != nil || pid <= 0 {
		cmd.Process.Kill()
		t.Fatalf("host printed %q, want the plugin's pid", line[:n])
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		t.Fatalf("plugin %d not running: %v", pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin %d still running 5s after its host was killed", pid)
		}
		time.Sleep(10 * time.Millisecond) // another process's exit has no channel to wait on
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
