package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
	"github.com/mxaudit/mxaudit/plugins/sdk"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Selection chooses checks by name: Only (when not empty) lists the checks
// to run, Skip those not to run.
type Selection struct {
	Only, Skip []string
}

// UsageError is a mistake of the user (an unknown check name, a bad setting);
// Check and Start return it before anything runs.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// remedyCheckFailed is the remedy of a CheckFailed finding.
const remedyCheckFailed = "See the log for the plugin's output and run `mxaudit plugins list`; fix, update or remove the plugin (or skip it with --skip-checks), then run the audit again."

// selected returns, per plugin, the names of its checks to run.
func (h *Plugins) selected(sel Selection) (map[*proc][]string, error) {
	known := map[string]bool{}
	for _, p := range h.plugins {
		if p.err != nil {
			known[p.name] = true
		}
		for _, c := range p.checks {
			known[c.Name] = true
		}
	}
	for _, n := range append(slices.Clone(sel.Only), sel.Skip...) {
		if now, retired := audit.RetiredChecks[n]; retired && !known[n] {
			h.log.Warn("check "+n+" was retired: its facts are "+now+"; the name is ignored", "check", n)
			continue
		}
		if !known[n] {
			return nil, &UsageError{Msg: fmt.Sprintf("unknown check %q (see mxaudit plugins list)", n)}
		}
	}
	want := func(n string) bool {
		return (len(sel.Only) == 0 || slices.Contains(sel.Only, n)) && !slices.Contains(sel.Skip, n)
	}
	out := map[*proc][]string{}
	for _, p := range h.plugins {
		if p.err != nil {
			if want(p.name) {
				out[p] = []string{p.name}
			}
			continue
		}
		for _, c := range p.checks {
			if want(c.Name) {
				out[p] = append(out[p], c.Name)
			}
		}
	}
	return out, nil
}

// validateConfig rejects settings of checks that no plugin serves and keys a check does not take.
func (h *Plugins) validateConfig(cfg Config) error {
	failed := map[string]bool{}
	for _, f := range h.Failures() {
		failed[f.Name] = true
	}
	checks := map[string]Check{}
	for _, c := range h.Checks() {
		checks[c.Name] = c
	}
	for _, name := range sortedKeys(cfg) {
		c, ok := checks[name]
		if !ok {
			if !failed[name] {
				h.log.Warn("config file has settings for a check that is not installed", "check", name)
			}
			continue
		}
		for _, key := range sortedKeys(cfg[name]) {
			if !slices.ContainsFunc(c.Config, func(k sdk.ConfigKey) bool { return k.Name == key }) {
				takes := "it takes none"
				if len(c.Config) > 0 {
					var keys []string
					for _, k := range c.Config {
						keys = append(keys, k.Name)
					}
					takes = "it takes: " + strings.Join(keys, ", ")
				}
				return &UsageError{Msg: fmt.Sprintf("config: check %s has no setting %q (%s; thresholds go in [thresholds])", name, key, takes)}
			}
		}
	}
	return nil
}

// outcome is what one plugin said about one batch.
type outcome struct {
	findings []*checkspb.Finding
	errs     []*checkspb.CheckError // checks that failed on the batch
	fail     string                 // the whole call failed: why
}

// configure sends p the settings of its chosen checks.
func (h *Plugins) configure(ctx context.Context, p *proc, names []string, cfg Config) error {
	req := &checkspb.ConfigureRequest{}
	for _, n := range names {
		cc := &checkspb.CheckConfig{Name: n}
		for _, k := range sortedKeys(cfg[n]) {
			cc.Settings = append(cc.Settings, &checkspb.Setting{Key: k, Values: cfg[n][k]})
		}
		req.Checks = append(req.Checks, cc)
	}
	cctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	_, err := p.rpc.Configure(cctx, req)
	if status.Code(err) == codes.InvalidArgument {
		return &UsageError{Msg: fmt.Sprintf("config: %s: %s", p.plugin, status.Convert(err).Message())}
	}
	if err != nil {
		err = fmt.Errorf("configure: %w", p.reason(err, h.opts.Timeout))
		p.giveUp(err.Error())
		h.log.Warn("check plugin failed", "plugin", p.plugin, "error", err)
	}
	return err
}

// Stats counts what could not be checked in a run.
type Stats struct {
	FailedPlugins int // plugins that failed at least one batch (or never started)
	FailedCalls   int // batches, per plugin, that failed or were not sent
	Unchecked     int // partners with at least one check that did not run on them
	Unsendable    int // partners whose result is too large to send to any plugin
	Trimmed       int // partners sent in a trimmed form (transcript shortened) to fit
}

// Stats returns the counts of the last run (Check, or a Session once
// finished); log them, since a check that failed only on some partners is no
// plugin Failure.
func (h *Plugins) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// call sends one batch to p and validates the answer.
func (h *Plugins) call(ctx context.Context, p *proc, names []string, b *batch) outcome {
	if why := p.deadReason(); why != "" {
		return outcome{fail: why}
	}
	if b.unsendable != "" {
		return outcome{fail: b.unsendable}
	}
	if ctx.Err() != nil {
		return outcome{fail: "interrupted"}
	}
	cctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	resp, err := checkRaw(cctx, p.conn, b.raw)
	if err != nil {
		if ctx.Err() != nil {
			p.giveUp("interrupted")
			return outcome{fail: "interrupted"}
		}
		if why := p.cause(); why != "" {
			// Another call in flight gave the plugin up (a timeout, a crash) and killed it under this one.
			return outcome{fail: why}
		}
		why := p.reason(err, h.opts.Timeout).Error()
		if p.client.Exited() || status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Unavailable {
			p.giveUp(why)
		}
		h.log.Warn("check plugin failed", "plugin", p.plugin, "error", why)
		return outcome{fail: why}
	}
	if err := validate(resp, names, b); err != nil {
		why := "returned an invalid answer: " + err.Error()
		h.log.Warn("check plugin failed", "plugin", p.plugin, "error", why)
		return outcome{fail: why}
	}
	return outcome{findings: resp.Findings, errs: resp.Errors}
}

// validate rejects an answer with findings of unknown checks, severities or targets.
func validate(resp *checkspb.CheckResponse, names []string, b *batch) error {
	for i, f := range resp.Findings {
		if !slices.Contains(names, f.Check) {
			return fmt.Errorf("finding %d: check %q was not asked for", i, f.Check)
		}
		if audit.Severity(f.Severity).Level() < 0 {
			return fmt.Errorf("finding %d of %s: unknown severity %q", i, f.Check, f.Severity)
		}
		if strings.TrimSpace(f.Message) == "" {
			return fmt.Errorf("finding %d of %s: empty message", i, f.Check)
		}
		switch t := f.Target.(type) {
		case *checkspb.Finding_Result:
			if int(t.Result) >= b.end-b.start {
				return fmt.Errorf("finding %d of %s: result %d of a batch of %d", i, f.Check, t.Result, b.end-b.start)
			}
		case *checkspb.Finding_PrivateRoot:
			if !b.roots || int(t.PrivateRoot) >= b.nRoots {
				return fmt.Errorf("finding %d of %s: private root %d of %d", i, f.Check, t.PrivateRoot, b.nRoots)
			}
		default:
			return fmt.Errorf("finding %d of %s: names neither a result nor a private root", i, f.Check)
		}
	}
	for i, e := range resp.Errors {
		if !slices.Contains(names, e.Check) {
			return fmt.Errorf("error %d: check %q was not asked for", i, e.Check)
		}
	}
	return nil
}

// failed builds the CheckFailed finding for checks names of the plugin at source.
func failed(names []string, source, why string) audit.Finding {
	what := "check " + names[0]
	if len(names) > 1 {
		what = "checks " + strings.Join(names, ", ")
	}
	return audit.Finding{
		Check:    CheckFailed,
		Severity: audit.Warning,
		Message:  fmt.Sprintf("%s (%s) failed: %s", what, source, why),
		Remedy:   remedyCheckFailed,
	}
}

// reason turns a call error into words, and notes whether the process died.
func (p *proc) reason(err error, timeout time.Duration) error {
	st := status.Convert(err)
	if st.Code() == codes.Unavailable {
		// The connection drops a moment before go-plugin sees the process exit.
		for i := 0; i < 50 && !p.client.Exited(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	switch {
	case st.Code() == codes.DeadlineExceeded:
		return fmt.Errorf("no answer within %s (--check-timeout); plugin stopped", timeout)
	case p.client.Exited():
		return fmt.Errorf("plugin process exited (crashed?): %s", st.Message())
	case st.Code() == codes.Unavailable:
		return fmt.Errorf("plugin unreachable: %s", st.Message())
	}
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}

// giveUp marks p dead with reason why and kills its process at once:
// after a timeout or a crash no further batch is sent to it.
func (p *proc) giveUp(why string) {
	p.mu.Lock()
	first := p.dead == ""
	if first {
		p.dead = why
	}
	p.mu.Unlock()
	if first {
		p.forceKill()
	}
}

// cause is why p was given up, or "".
func (p *proc) cause() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dead
}

// deadReason says why a call is not sent to p once it was given up, or "".
func (p *proc) deadReason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead == "" {
		return ""
	}
	return "not run: the plugin was stopped earlier (" + p.dead + ")"
}
