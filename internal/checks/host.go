// Package host runs checks: it starts the built-in check plugin (the mxaudit
// binary itself) and every mxaudit-check-* executable of the plugin
// directories over hashicorp/go-plugin, configures the selected checks,
// sends them the results in batches and merges their findings into the
// results. A plugin that fails never stops the run: the partners it could
// not check get a CheckFailed finding naming the check and the reason.
package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/sdk"
	"google.golang.org/grpc"
)

// Prefix is how the executable of a third-party check plugin is named.
const Prefix = "mxaudit-check-"

// BuiltinPlugin is the Plugin of the checks served by mxaudit itself.
const BuiltinPlugin = "built-in"

// CheckFailed is the Check of the finding a partner gets when a check could not run on it.
const CheckFailed = "CheckFailed"

// Defaults of Options.
const (
	DefaultTimeout       = 30 * time.Second
	DefaultMaxBatch      = 256
	DefaultMaxBatchBytes = 1 << 20
	DefaultWorkers       = 2
)

// SessionBatch is how many partners a Session.Check call is best given
// under the default Options: a full request for every worker of each plugin.
const SessionBatch = DefaultWorkers * DefaultMaxBatch

// Options says which plugins to start and how to talk to them.
type Options struct {
	// Builtin returns the command serving the built-in checks
	// (`mxaudit plugin serve`), or is nil for none.
	Builtin func() *exec.Cmd
	// Plugins are the paths of third-party plugin executables (see Discover).
	Plugins []string
	// Timeout bounds the start of a plugin and each call to it; DefaultTimeout when 0.
	Timeout time.Duration
	// MaxBatch and MaxBatchBytes bound a batch of results by count and by encoded size.
	MaxBatch, MaxBatchBytes int
	// MaxMessage is the largest request sent to a plugin; MaxMessage (gRPC's default) when 0.
	MaxMessage int
	// Workers is how many batches are in flight per plugin; DefaultWorkers when 0.
	Workers int
	// Logger gets plugin stderr and plugin failures; slog.Default() when nil.
	Logger *slog.Logger
}

// Check describes one check a plugin serves.
type Check struct {
	Name        string
	Version     string
	Description string
	Severity    string
	Citation    string
	Author      string
	Config      []sdk.ConfigKey
	Plugin      string // BuiltinPlugin or the plugin's path
}

// Failure is a plugin that could not be started or described.
type Failure struct {
	Name   string // the check name derived from the file name, or BuiltinPlugin
	Plugin string // BuiltinPlugin or the plugin's path
	Err    error
}

// Plugins holds the started plugins; Close kills them.
type Plugins struct {
	opts    Options
	log     *slog.Logger
	plugins []*proc
	mu      sync.Mutex
	stats   Stats // of the last run
}

// proc is one plugin process.
type proc struct {
	plugin string // BuiltinPlugin or path
	name   string // check name derived from the file name, for selection when it failed
	client *goplugin.Client
	conn   *grpc.ClientConn
	rpc    checkspb.ChecksClient
	checks []Check
	err    error // start or describe failure

	mu   sync.Mutex
	dead string // why the process was given up, once it was
}

// Discover lists the mxaudit-check-* executables of dirs, sorted by name
// within each directory; a directory that does not exist is skipped.
func Discover(dirs []string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("plugins directory %s: %w", dir, err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), Prefix) || strings.HasSuffix(e.Name(), "~") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			st, err := os.Stat(p) // follows symlinks
			if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// Open starts the built-in plugin and every plugin of opts.Plugins
// concurrently and asks each for its checks. Plugins that fail are kept as
// Failures; Open itself does not fail on them.
func Open(ctx context.Context, opts Options) *Plugins {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = MaxMessage
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	h := &Plugins{opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if opts.Builtin != nil {
		h.plugins = append(h.plugins, &proc{plugin: BuiltinPlugin, name: BuiltinPlugin})
	}
	for _, p := range opts.Plugins {
		h.plugins = append(h.plugins, &proc{plugin: p, name: strings.TrimPrefix(filepath.Base(p), Prefix)})
	}
	var wg sync.WaitGroup
	for _, p := range h.plugins {
		wg.Go(func() {
			var cmd *exec.Cmd
			if p.plugin == BuiltinPlugin {
				cmd = opts.Builtin()
			} else {
				cmd = exec.Command(p.plugin)
			}
			p.err = h.start(ctx, p, cmd)
			if p.err != nil {
				h.log.Warn("check plugin failed to start", "plugin", p.plugin, "error", p.err)
				p.kill()
			}
		})
	}
	wg.Wait()
	h.dedup()
	return h
}

// start launches p and describes its checks.
func (h *Plugins) start(ctx context.Context, p *proc, cmd *exec.Cmd) error {
	setDeathSignal(cmd)
	p.client = goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{sdk.ProtocolVersion: {sdk.PluginName: connPlugin{}}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		StartTimeout:     h.opts.Timeout,
		Stderr:           &lineLogger{log: h.log, plugin: p.plugin, stream: "stderr"},
		SyncStderr:       &lineLogger{log: h.log, plugin: p.plugin, stream: "stderr"},
		SyncStdout:       &lineLogger{log: h.log, plugin: p.plugin, stream: "stdout"},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
	})
	rc, err := p.client.Client()
	if err != nil {
		// go-plugin appends a paragraph of generic advice; keep the first line.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return fmt.Errorf("start: %s", msg)
	}
	raw, err := rc.Dispense(sdk.PluginName)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	conn, ok := raw.(*grpc.ClientConn)
	if !ok {
		return fmt.Errorf("start: plugin set has %T, not a gRPC connection", raw)
	}
	p.conn, p.rpc = conn, checkspb.NewChecksClient(conn)
	rpc := p.rpc
	cctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	resp, err := rpc.Describe(cctx, &checkspb.DescribeRequest{})
	if err != nil {
		return fmt.Errorf("describe: %w", p.reason(err, h.opts.Timeout))
	}
	if len(resp.Checks) == 0 {
		return errors.New("describe: the plugin serves no checks")
	}
	seen := map[string]bool{}
	for _, c := range resp.Checks {
		if !validName(c.Name) {
			return fmt.Errorf("describe: invalid check name %q (want lower-case letters, digits and dashes)", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("describe: check %q listed twice", c.Name)
		}
		seen[c.Name] = true
		chk := Check{Name: c.Name, Version: c.Version, Description: c.Description, Severity: c.Severity,
			Citation: c.Citation, Author: c.Maintainer, Plugin: p.plugin}
		for _, k := range c.Config {
			chk.Config = append(chk.Config, sdk.ConfigKey{Name: k.Name, Description: k.Description, Default: k.Default})
		}
		p.checks = append(p.checks, chk)
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// dedup drops checks whose name an earlier plugin already serves.
func (h *Plugins) dedup() {
	owner := map[string]string{}
	for _, p := range h.plugins {
		var keep []Check
		for _, c := range p.checks {
			if o, ok := owner[c.Name]; ok {
				h.log.Warn("check name already taken; ignoring this one", "check", c.Name, "plugin", p.plugin, "taken_by", o)
				continue
			}
			owner[c.Name] = p.plugin
			keep = append(keep, c)
		}
		p.checks = keep
	}
}

// Checks lists the checks of all started plugins, built-in ones first.
func (h *Plugins) Checks() []Check {
	var out []Check
	for _, p := range h.plugins {
		out = append(out, p.checks...)
	}
	return out
}

// Failures lists the plugins that could not be started or described.
func (h *Plugins) Failures() []Failure {
	var out []Failure
	for _, p := range h.plugins {
		if p.err != nil {
			out = append(out, Failure{Name: p.name, Plugin: p.plugin, Err: p.err})
		}
	}
	return out
}

// Close kills every plugin process and waits for it to exit.
func (h *Plugins) Close() {
	var wg sync.WaitGroup
	for _, p := range h.plugins {
		wg.Go(p.kill)
	}
	wg.Wait()
}

// kill ends p's process: SIGKILL when it was given up (it may hang), else go-plugin's graceful Kill.
func (p *proc) kill() {
	if p.client == nil {
		return
	}
	p.mu.Lock()
	dead := p.dead != ""
	p.mu.Unlock()
	if dead {
		p.forceKill()
	}
	p.client.Kill()
}

// forceKill sends SIGKILL to p's process without waiting for anything.
func (p *proc) forceKill() {
	if p.client == nil {
		return
	}
	if rc := p.client.ReattachConfig(); rc != nil && rc.Pid > 0 {
		if pr, err := os.FindProcess(rc.Pid); err == nil {
			_ = pr.Kill()
		}
	}
}

// Pid returns the process id of the plugin serving source, or 0; for tests.
func (h *Plugins) Pid(source string) int {
	for _, p := range h.plugins {
		if p.plugin == source && p.client != nil {
			if rc := p.client.ReattachConfig(); rc != nil {
				return rc.Pid
			}
		}
	}
	return 0
}

// Exited reports whether every plugin process has exited.
func (h *Plugins) Exited() bool {
	for _, p := range h.plugins {
		if p.client != nil && !p.client.Exited() {
			return false
		}
	}
	return true
}

// lineLogger logs a plugin's stderr (or stdout after the handshake) line by line.
// go-plugin's own JSON log lines keep their level; anything else is a warning.
type lineLogger struct {
	log    *slog.Logger
	plugin string
	stream string
	mu     sync.Mutex
	buf    []byte
}

// logLine logs one line of plugin output.
func (w *lineLogger) logLine(line string) {
	if strings.HasPrefix(line, "{") {
		var entry struct {
			Level   string `json:"@level"`
			Message string `json:"@message"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Level != "" {
			level := slog.LevelWarn
			switch entry.Level {
			case "trace", "debug":
				level = slog.LevelDebug
			case "info":
				level = slog.LevelInfo
			case "error":
				level = slog.LevelError
			}
			w.log.Log(context.Background(), level, "check plugin log", "plugin", w.plugin, "message", entry.Message)
			return
		}
	}
	w.log.Warn("check plugin "+w.stream, "plugin", w.plugin, "line", line)
}

func (w *lineLogger) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(w.buf[:i]), "\r"); line != "" {
			w.logLine(line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// DefaultDirs returns where plugins are looked for when --plugins-dir is not
// given: ./plugins.d, then $XDG_CONFIG_HOME/mxaudit/plugins (~/.config/... on Linux).
func DefaultDirs() []string {
	dirs := []string{"plugins.d"}
	if cfg, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(cfg, "mxaudit", "plugins"))
	}
	return dirs
}
