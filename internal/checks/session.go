package checks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
)

// Session is one run of the checks over partners streamed a batch at a
// time: Start, then Check for every batch, then Finish. Its memory does not
// grow with the number of partners checked. A Session is used by one
// goroutine at a time.
type Session struct {
	h      *Plugins
	head   *audit.Results
	active []*proc                      // the plugins serving a selected check
	chosen map[*proc][]string           // per plugin, its selected checks
	why    []string                     // per active plugin: why no call is sent (start or configure failure), or ""
	req    rawRequest                   // the clock and the thresholds, the start of every request
	sent   bool                         // the private roots went out (or there are none)
	roots  []outcome                    // per active plugin, what it said about the private roots
	heard  []map[string][]audit.Finding // per active plugin, per partner name: root warnings for the partners trusting it
	failed []bool                       // per active plugin: failed at least one call
	stats  Stats
	done   bool
}

// Validate checks sel and cfg against the plugins' checks and declared
// settings, as Start does, without configuring anything: a run asks it
// before its first probe, so that a misspelt check costs no probing.
func (h *Plugins) Validate(sel Selection, cfg Config) error {
	if _, err := h.selected(sel); err != nil {
		return err
	}
	return h.validateConfig(cfg)
}

// Start validates sel and cfg against the plugins and configures them for a
// run whose head (Started, Thresholds, PrivateRoots; Partners unused) is
// head; it returns a *UsageError for an unknown check or a bad setting. A
// plugin failing to configure is no error: its checks fail on every batch.
func (h *Plugins) Start(ctx context.Context, head *audit.Results, sel Selection, cfg Config) (*Session, error) {
	chosen, err := h.selected(sel)
	if err != nil {
		return nil, err
	}
	if err := h.validateConfig(cfg); err != nil {
		return nil, err
	}
	s := &Session{h: h, head: head, chosen: chosen, req: requestHead(head), sent: len(head.PrivateRoots) == 0}
	for _, p := range h.plugins {
		if len(chosen[p]) > 0 {
			s.active = append(s.active, p)
		}
	}
	// Configure every live plugin; a plugin rejecting its settings is a usage error.
	var wg sync.WaitGroup
	cfgErrs := make([]error, len(s.active))
	for i, p := range s.active {
		if p.err == nil {
			wg.Go(func() { cfgErrs[i] = h.configure(ctx, p, chosen[p], cfg) })
		}
	}
	wg.Wait()
	s.why = make([]string, len(s.active))
	for i, p := range s.active {
		var ue *UsageError
		if errors.As(cfgErrs[i], &ue) {
			return nil, cfgErrs[i]
		}
		if err := errors.Join(p.err, cfgErrs[i]); err != nil {
			s.why[i] = err.Error()
		}
	}
	s.roots = make([]outcome, len(s.active))
	s.heard = make([]map[string][]audit.Finding, len(s.active))
	s.failed = make([]bool, len(s.active))
	return s, nil
}

// Check runs the selected checks over partners (one batch of the run, in
// any size: it is cut into requests of at most Options.MaxBatch results and
// MaxBatchBytes, and into one request per worker when smaller; SessionBatch
// partners a call keep every worker busy)
// and merges their findings into partners[i].Findings, with the warnings
// about the private roots a partner trusts. Plugin failures become
// CheckFailed findings; when ctx ends first, the partners left unchecked
// carry CheckFailed "interrupted" and Check returns ctx's error.
func (s *Session) Check(ctx context.Context, partners []audit.Result) error {
	// A call smaller than a request per worker is shared among the workers.
	size := min(s.h.opts.MaxBatch, max(1, (len(partners)+s.h.opts.Workers-1)/s.h.opts.Workers))
	batches := makeBatches(s.req, partners, size, s.h.opts.MaxBatchBytes, s.h.opts.MaxMessage)
	withRoots := !s.sent
	if withRoots {
		// The first call carries the private roots, in a request of their own.
		batches = append([]*batch{rootsBatch(s.req, s.head.PrivateRoots)}, batches...)
		s.sent = true
	}
	for _, b := range batches {
		if b.unsendable != "" {
			s.h.log.Warn("result too large for the check plugins", "partner", partners[b.start].Name, "why", b.unsendable)
		}
		if b.trimmed > 0 {
			s.h.log.Info("results trimmed to fit the check plugins", "results", b.trimmed)
		}
	}
	out := s.send(ctx, batches)
	s.count(batches, out, len(partners))
	if withRoots {
		s.hear(out)
		batches = batches[1:]
		for pi := range out {
			out[pi] = out[pi][1:]
		}
	}
	s.merge(partners, batches, out)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("checks interrupted: %w", err)
	}
	return nil
}

// Finish sends the private roots if no Check call did, adds what the
// plugins said about them to head.PrivateRoots[i].Findings and makes the
// session's Stats those of Plugins.Stats. It returns ctx's error when ctx
// ended before the roots were checked.
func (s *Session) Finish(ctx context.Context) error {
	if s.done {
		return nil
	}
	s.done = true
	var err error
	if !s.sent {
		err = s.Check(ctx, nil)
	}
	roots := s.head.PrivateRoots
	for pi, p := range s.active {
		o := s.roots[pi]
		if o.fail != "" {
			f := failed(s.chosen[p], p.plugin, o.fail)
			for i := range roots {
				roots[i].Findings = append(roots[i].Findings, f)
			}
			continue
		}
		for _, pf := range o.findings {
			t := pf.Target.(*checkspb.Finding_PrivateRoot) // validate let no other target through
			roots[t.PrivateRoot].Findings = append(roots[t.PrivateRoot].Findings, toFinding(pf))
		}
	}
	s.h.mu.Lock()
	s.h.stats = s.stats
	s.h.mu.Unlock()
	return err
}

// Stats returns the counts of the session so far.
func (s *Session) Stats() Stats { return s.stats }

// send sends batches to every active plugin, Options.Workers at a time per plugin.
func (s *Session) send(ctx context.Context, batches []*batch) [][]outcome {
	out := make([][]outcome, len(s.active)) // [plugin][batch]
	var wg sync.WaitGroup
	for i, p := range s.active {
		out[i] = make([]outcome, len(batches))
		if s.why[i] != "" {
			for b := range batches {
				out[i][b].fail = s.why[i]
			}
			continue
		}
		work := make(chan int)
		for range s.h.opts.Workers {
			wg.Go(func() {
				for b := range work {
					out[i][b] = s.h.call(ctx, p, s.chosen[p], batches[b])
				}
			})
		}
		wg.Go(func() {
			defer close(work)
			for b := range batches {
				work <- b
			}
		})
	}
	wg.Wait()
	return out
}

// count adds the failures of one call to the session's Stats.
func (s *Session) count(batches []*batch, out [][]outcome, n int) {
	unchecked := make([]bool, n)
	for _, b := range batches {
		s.stats.Trimmed += b.trimmed
		if b.unsendable != "" {
			s.stats.Unsendable += b.end - b.start
		}
	}
	for pi := range s.active {
		for bi, b := range batches {
			o := out[pi][bi]
			if o.fail == "" && len(o.errs) == 0 {
				continue
			}
			if !s.failed[pi] {
				s.failed[pi] = true
				s.stats.FailedPlugins++
			}
			if o.fail != "" {
				s.stats.FailedCalls++
			}
			for i := b.start; i < b.end; i++ {
				unchecked[i] = true
			}
		}
	}
	for _, u := range unchecked {
		if u {
			s.stats.Unchecked++
		}
	}
}

// hear keeps what each plugin said about the private roots (out[pi][0]) and
// the warnings the partners trusting a root hear about it.
func (s *Session) hear(out [][]outcome) {
	roots := s.head.PrivateRoots
	for pi := range s.active {
		o := out[pi][0]
		s.roots[pi] = o
		for _, pf := range o.findings {
			t, ok := pf.Target.(*checkspb.Finding_PrivateRoot)
			if !ok {
				continue
			}
			root := &roots[t.PrivateRoot]
			f := toFinding(pf)
			if f.Severity.Level() < audit.Warning.Level() || root.Status == audit.RootExpired {
				// An expired root is the Expired verdict of every
				// partner whose chain ends in it: said once, there.
				continue
			}
			if !strings.HasPrefix(f.Message, "private root ") {
				f.Message = fmt.Sprintf("private root %s: %s", root.Subject, f.Message)
			}
			if s.heard[pi] == nil {
				s.heard[pi] = map[string][]audit.Finding{}
			}
			done := map[string]bool{}
			for _, n := range slices.Concat(root.UsedBy, root.DeclaredBy) {
				if !done[n] {
					done[n] = true
					s.heard[pi][n] = append(s.heard[pi][n], f)
				}
			}
		}
	}
}

// merge adds to partners, plugin by plugin, the root warnings they hear and
// then every outcome of their batches in batch order.
func (s *Session) merge(partners []audit.Result, batches []*batch, out [][]outcome) {
	for pi, p := range s.active {
		if heard := s.heard[pi]; len(heard) > 0 {
			for i := range partners {
				partners[i].Findings = append(partners[i].Findings, heard[partners[i].Name]...)
			}
		}
		names := s.chosen[p]
		for bi, b := range batches {
			o := out[pi][bi]
			if o.fail != "" {
				f := failed(names, p.plugin, o.fail)
				for i := b.start; i < b.end; i++ {
					partners[i].Findings = append(partners[i].Findings, f)
				}
				continue
			}
			for _, e := range o.errs {
				f := failed([]string{e.Check}, p.plugin, e.Message)
				for i := b.start; i < b.end; i++ {
					partners[i].Findings = append(partners[i].Findings, f)
				}
			}
			for _, pf := range o.findings {
				i := b.start + int(pf.Target.(*checkspb.Finding_Result).Result) // validate let no other target through
				partners[i].Findings = append(partners[i].Findings, toFinding(pf))
			}
		}
	}
}

// toFinding is the audit form of a plugin's finding.
func toFinding(pf *checkspb.Finding) audit.Finding {
	return audit.Finding{Check: pf.Check, Severity: audit.Severity(pf.Severity), Message: pf.Message, Remedy: pf.Remedy}
}

// Check runs the selected checks over res, with cfg's settings, and merges
// their findings into res.Partners[i].Findings and res.PrivateRoots[i].Findings:
// Start, Check(res.Partners), Finish. Plugin failures become CheckFailed
// findings; Check returns a *UsageError for a bad selection or setting, and
// ctx's error when ctx ends first (the unchecked partners then carry
// CheckFailed "interrupted").
func (h *Plugins) Check(ctx context.Context, res *audit.Results, sel Selection, cfg Config) error {
	s, err := h.Start(ctx, res, sel, cfg)
	if err != nil {
		return err
	}
	err = s.Check(ctx, res.Partners)
	if ferr := s.Finish(ctx); err == nil {
		err = ferr
	}
	return err
}
