package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/internal/spill"
)

// finishBatch is how many partners the finish stage takes at a time: one
// call of the check plugins and one history statement batch each.
const finishBatch = 256

// finisher is the finish stage of one run: it reads the partners probed,
// in inventory order, a batch at a time, and for each batch decides our
// MTA's delivery, runs the checks and records the history; each partner
// then goes to out, the spill file the write stage reads. Memory holds one
// batch, whatever the size of the run.
type finisher struct {
	cfg     Config
	head    *audit.Results
	decide  func(p *audit.Result, rows []audit.Partner, prior history.Prior) // nil without our MTA's policy
	checks  *checkRun                                                        // nil when the checks are off
	hist    *runHistory
	rec     recorder
	out     *spill.Store[audit.Result]
	tally   Tally
	changes []audit.Change
	held    []audit.Result // every partner, with Config.Hold
	log     *slog.Logger
	stopped bool // interrupted during this stage: no more checks
}

// run reads every partner probed and finishes it; the errors are the
// spill file's (unreadable: what it held is lost) and the output's.
func (f *finisher) run(ctx context.Context, each func(func(*probed) error) error) error {
	f.tally = newTally()
	batch := make([]audit.Result, 0, finishBatch)
	rows := make([][]audit.Partner, 0, finishBatch)
	start := time.Now()
	err := each(func(p *probed) error {
		batch, rows = append(batch, p.Result), append(rows, p.Rows)
		if len(batch) < finishBatch {
			return nil
		}
		err := f.batch(ctx, batch, rows)
		batch, rows = batch[:0], rows[:0]
		return err
	})
	if err == nil && len(batch) > 0 {
		err = f.batch(ctx, batch, rows)
	}
	if err != nil {
		f.head.Incomplete = true
	}
	f.end(ctx)
	f.log.Info("partners finished", "partners", f.tally.Partners, "elapsed", time.Since(start).Round(time.Millisecond))
	return err
}

// batch finishes the partners of one batch and hands them on.
func (f *finisher) batch(ctx context.Context, batch []audit.Result, rows [][]audit.Partner) error {
	if f.decide != nil {
		var prior history.Prior // how long our MTA's mail to each target has not flowed
		if f.rec != nil {
			p, err := f.rec.prior(batch)
			if err != nil {
				f.historyFailed(err)
			}
			prior = p
		}
		for i := range batch {
			f.decide(&batch[i], rows[i], prior)
		}
	}
	if f.checks != nil {
		// After an interrupt each batch still goes through at once: its
		// partners carry CheckFailed "interrupted".
		if err := f.checks.check(ctx, batch); err != nil && !f.stopped {
			f.stopped = true
			f.head.Incomplete = true
			f.log.Warn("checks interrupted; results are incomplete", "error", err)
		}
	}
	if f.rec != nil {
		changes, err := f.rec.add(batch)
		f.changes = append(f.changes, changes...)
		if err != nil {
			f.historyFailed(err)
		}
	}
	for i := range batch {
		r := &batch[i]
		f.tally.add(r)
		if f.cfg.Hold {
			f.held = append(f.held, *r)
		}
		if err := f.out.Put(f.tally.Partners-1, r); err != nil {
			return &WriteError{File: f.out.Path(), Err: err}
		}
	}
	return nil
}

// end runs what only the whole run can tell: the checks of the private
// roots, the changes of the partners the run no longer has, and the
// history's run row.
func (f *finisher) end(ctx context.Context) {
	if f.checks != nil {
		if err := f.checks.finish(ctx, f.head); err != nil {
			f.head.Incomplete = true
		}
	}
	if f.rec != nil {
		changes, err := f.rec.finish(f.head)
		f.changes = append(f.changes, changes...)
		if err != nil {
			f.historyFailed(err)
		} else {
			f.hist.recorded(f.changes)
		}
	}
	f.head.Changes = f.changes
}

// historyFailed gives up recording the run: the history keeps none of it
// (the run is marked interrupted), the results are still written.
func (f *finisher) historyFailed(err error) {
	f.hist.failed(err)
	if f.rec != nil {
		f.rec.close()
		f.rec = nil
	}
}

// checkRun is the check stage of a run: the plugins, started and given
// their selection and settings before any probe, then a session over the
// run's partners a batch at a time.
type checkRun struct {
	h   *checks.Plugins
	c   Checks
	s   *checks.Session
	log *slog.Logger
}

// openChecks starts the check plugins; an unknown plugin folder, check or
// setting is a usage error, before any probe.
func openChecks(ctx context.Context, c Checks, log *slog.Logger) (*checkRun, error) {
	dirs := c.Dirs
	if dirs == nil {
		dirs = checks.DefaultDirs()
	}
	paths, err := checks.Discover(dirs)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	h := checks.Open(ctx, checks.Options{Builtin: c.Builtin, Plugins: paths, Timeout: c.Timeout, Logger: log})
	if err := h.Validate(checks.Selection{Only: c.Only, Skip: c.Skip}, c.Settings); err != nil {
		h.Close()
		return nil, &UsageError{Err: err}
	}
	return &checkRun{h: h, c: c, log: log}, nil
}

// start begins the session over head's partners: the selection and
// settings are sent once; a bad one is a usage error.
func (cr *checkRun) start(ctx context.Context, head *audit.Results) error {
	s, err := cr.h.Start(ctx, head, checks.Selection{Only: cr.c.Only, Skip: cr.c.Skip}, cr.c.Settings)
	var ue *checks.UsageError
	if errors.As(err, &ue) {
		return &UsageError{Err: err}
	}
	cr.s = s
	return err
}

// check runs the checks over batch, merging their findings into it.
func (cr *checkRun) check(ctx context.Context, batch []audit.Result) error {
	return cr.s.Check(ctx, batch)
}

// finish runs the checks of the private roots into head's.
func (cr *checkRun) finish(ctx context.Context, _ *audit.Results) error {
	err := cr.s.Finish(ctx)
	st := cr.h.Stats()
	cr.log.Info("checks done", "checks", len(cr.h.Checks()), "failed_plugins", st.FailedPlugins, "failed_calls", st.FailedCalls,
		"unchecked_partners", st.Unchecked, "unsendable_partners", st.Unsendable, "trimmed_partners", st.Trimmed)
	return err
}

func (cr *checkRun) close() {
	if cr != nil {
		cr.h.Close()
	}
}

// recorder records a run's partners a batch at a time.
type recorder interface {
	prior(batch []audit.Result) (history.Prior, error) // what the history knew of them
	add(batch []audit.Result) ([]audit.Change, error)
	finish(head *audit.Results) ([]audit.Change, error)
	close() // gives up a run not finished
}
