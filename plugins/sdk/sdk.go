// Package sdk is what a check author imports: implement Check, call Serve
// from main, and build an executable named mxaudit-check-<name>.
//
//	func main() { sdk.Serve(myCheck{}) }
//
// mxaudit starts the executable over hashicorp/go-plugin (gRPC, AutoMTLS),
// asks it to describe its checks, configures them from the config file and
// sends it the probe results in batches.
package sdk

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"google.golang.org/grpc"
)

// ProtocolVersion is the version of the check protocol this SDK speaks.
const ProtocolVersion = 1

// PluginName is the name of the check plugin in go-plugin's plugin set.
const PluginName = "checks"

// Handshake is the go-plugin handshake shared by mxaudit and every check plugin.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "MXAUDIT_CHECK_PLUGIN",
	MagicCookieValue: "6f1d0c3e-mxaudit-checks",
}

// Info describes a check: what `mxaudit plugins list` shows and what
// the config file may set for it.
type Info struct {
	Name        string         // unique, lower-case with dashes, e.g. "allowed-ca"
	Version     string         // version of the check
	Description string         // one line
	Severity    audit.Severity // the most severe finding it makes
	Citation    string         // where the rule comes from (RFC, runbook, policy)
	Maintainer  string         // who maintains it
	Config      []ConfigKey    // settings it accepts
}

// ConfigKey documents one setting of a check.
type ConfigKey struct {
	Name        string
	Description string
	Default     string
}

// Check is one rule applied to probe results.
//
// Configure is called once before any Check call; Check may be called
// concurrently for different batches and must not keep the batch.
type Check interface {
	Info() Info
	Configure(cfg Config) error
	Check(ctx context.Context, b *Batch, out *Report) error
}

// Config holds the settings of one check from the config file's table
// [checks.<name>]: a scalar has one value, an array several.
type Config map[string][]string

// String returns the value of key, or def when it is not set.
func (c Config) String(key, def string) string {
	if v, ok := c[key]; ok && len(v) > 0 {
		return v[0]
	}
	return def
}

// Int returns the integer value of key, or def when it is not set.
func (c Config) Int(key string, def int) (int, error) {
	v, ok := c[key]
	if !ok || len(v) == 0 {
		return def, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a whole number", key, v[0])
	}
	return n, nil
}

// Bool returns the boolean value of key, or def when it is not set.
func (c Config) Bool(key string, def bool) (bool, error) {
	v, ok := c[key]
	if !ok || len(v) == 0 {
		return def, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, fmt.Errorf("%s: %q is not true or false", key, v[0])
	}
	return b, nil
}

// Strings returns all values of key (an array in the config file).
func (c Config) Strings(key string) []string { return c[key] }

// Batch is one slice of the run's results handed to a check.
type Batch struct {
	Now          time.Time           // the run's clock (Results.Started): use it, not time.Now
	Results      []audit.Result      // partners of this batch
	PrivateRoots []audit.PrivateRoot // imported private roots (in the first batch only)
	// Thresholds are the run's ([thresholds] of the config file, in every
	// batch): grade by them, not by numbers of your own, so that a check
	// agrees with the verdicts and the root statuses.
	Thresholds audit.Thresholds

	once     []sync.Once
	certs    [][]*x509.Certificate
	errs     []error
	leafOnce []sync.Once
	leaves   []*x509.Certificate
	leafErrs []error
}

// NewBatch returns a batch over results and roots at the clock now, with
// the default thresholds (set Thresholds to grade by others).
func NewBatch(now time.Time, results []audit.Result, roots []audit.PrivateRoot) *Batch {
	return &Batch{Now: now, Results: results, PrivateRoots: roots, Thresholds: audit.DefaultThresholds(),
		once: make([]sync.Once, len(results)), certs: make([][]*x509.Certificate, len(results)),
		errs: make([]error, len(results)), leafOnce: make([]sync.Once, len(results)),
		leaves: make([]*x509.Certificate, len(results)), leafErrs: make([]error, len(results))}
}

// Leaf returns result i's parsed leaf certificate, or nil when no chain was
// presented; it is parsed once per batch and shared by all checks.
func (b *Batch) Leaf(i int) (*x509.Certificate, error) {
	b.leafOnce[i].Do(func() {
		if len(b.Results[i].Chain) == 0 {
			return
		}
		b.leaves[i], b.leafErrs[i] = x509.ParseCertificate(b.Results[i].Chain[0].DER)
		if b.leafErrs[i] != nil {
			b.leafErrs[i] = fmt.Errorf("leaf certificate: %w", b.leafErrs[i])
		}
	})
	return b.leaves[i], b.leafErrs[i]
}

// Chain returns the parsed certificates of result i's chain, leaf first;
// they are parsed once per batch and shared by all checks.
func (b *Batch) Chain(i int) ([]*x509.Certificate, error) {
	b.once[i].Do(func() {
		for j, c := range b.Results[i].Chain {
			if j == 0 {
				leaf, err := b.Leaf(i)
				if err != nil {
					b.errs[i] = err
					return
				}
				b.certs[i] = append(b.certs[i], leaf)
				continue
			}
			x, err := x509.ParseCertificate(c.DER)
			if err != nil {
				b.errs[i] = fmt.Errorf("certificate %d of the chain: %w", j, err)
				return
			}
			b.certs[i] = append(b.certs[i], x)
		}
	})
	return b.certs[i], b.errs[i]
}

// Report collects the findings of one check on one batch.
type Report struct {
	check    string
	batch    *Batch
	findings []*checkspb.Finding
}

// Partner records a finding about result i of the batch.
func (r *Report) Partner(i int, sev audit.Severity, message, remedy string) {
	r.findings = append(r.findings, &checkspb.Finding{
		Check: r.check, Severity: string(sev), Message: message, Remedy: remedy,
		Target: &checkspb.Finding_Result{Result: uint32(i)}, Partner: r.batch.Results[i].Name,
	})
}

// PrivateRoot records a finding about private root i of the batch.
func (r *Report) PrivateRoot(i int, sev audit.Severity, message, remedy string) {
	r.findings = append(r.findings, &checkspb.Finding{
		Check: r.check, Severity: string(sev), Message: message, Remedy: remedy,
		Target: &checkspb.Finding_PrivateRoot{PrivateRoot: uint32(i)},
	})
}

// Serve serves checks as a go-plugin check plugin until mxaudit stops it;
// call it from main. Started by hand it prints that it is a plugin and exits 1.
func Serve(checks ...Check) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &Plugin{Checks: NewServer(checks...)}}},
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Level: hclog.Warn, Output: os.Stderr, JSONFormat: true,
		}),
	})
}

// Plugin is the go-plugin glue of the check protocol, used by both sides.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Checks checkspb.ChecksServer // set on the plugin side
}

// GRPCServer registers the checks server.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	checkspb.RegisterChecksServer(s, p.Checks)
	return nil
}

// GRPCClient returns a checkspb.ChecksClient for the host.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return checkspb.NewChecksClient(c), nil
}
