package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
)

// runHistory is what one run does with the history database: the lock, the
// run begun before probing, and the recording of the results.
type runHistory struct {
	db    *history.DB // nil when disabled or unusable
	lock  *history.Lock
	runID int64
	err   error // why the history is unusable, reported after the results are written
	log   *slog.Logger
}

// openHistory takes the database's lock, opens and migrates it and begins
// the run, before any probe. Only a held lock stops the run (two cron scans
// never overlap); any other failure is logged at once, the run goes on
// without history and the failure is returned by record.
func openHistory(cfg Config, log *slog.Logger) (*runHistory, error) {
	h := &runHistory{log: log}
	if cfg.History.Disabled {
		return h, nil
	}
	path := cfg.History.Path
	var err error
	if path == "" {
		if path, err = history.DefaultPath(); err != nil {
			return h.fail(path, err), nil
		}
	}
	shown := history.Redact(path)
	inv, err := cfg.inventoryKey()
	if err != nil {
		return h.fail(shown, err), nil
	}
	scope := history.Scope{Inventory: inv, Vantage: cfg.Vantage, Shard: cfg.Shard}
	if h.db, h.lock, err = history.Acquire(path, scope, history.Options{}); err != nil {
		var le *history.LockedError
		if errors.As(err, &le) {
			return nil, err
		}
		return h.fail(shown, err), nil
	}
	if h.runID, err = h.db.BeginRun(history.RunMeta{Scope: scope, Label: cfg.RunLabel, Started: time.Now()}); err != nil {
		return h.fail(shown, err), nil
	}
	log.Debug("history run begun", "db", shown, "run", h.runID)
	return h, nil
}

// fail records why the history at path (without password) cannot be used,
// says so now, and leaves h without a database.
func (h *runHistory) fail(path string, err error) *runHistory {
	h.err = &HistoryError{Path: path, Err: err}
	h.log.Error("history unusable; the scan goes on and writes its results, but is not recorded", "error", h.err)
	if h.db != nil {
		h.db.Close()
		h.db = nil
	}
	return h
}

// recorder returns what records the run's partners as they come, or nil
// when the history is off or unusable.
func (h *runHistory) recorder() recorder {
	if h.err != nil || h.db == nil {
		return nil
	}
	return &wholeRecorder{h: h}
}

// failed says the history could not record the run; the results are still
// written. It keeps the first failure, as a *HistoryError.
func (h *runHistory) failed(err error) {
	if h.err != nil {
		return
	}
	h.err = &HistoryError{Path: h.db.Path(), Err: err}
	h.log.Error("history not recorded; results are still written", "error", h.err)
}

// recorded says the run is recorded, with its changes.
func (h *runHistory) recorded(changes []audit.Change) {
	h.runID = 0
	h.log.Info("scan recorded", "db", h.db.Path(), "changes", len(changes))
	for _, ch := range changes {
		h.log.Info("change", "partner", ch.Partner, "kind", ch.Kind, "before", ch.Before, "after", ch.After, "since_run", ch.SinceRun)
	}
}

// wholeRecorder records the run in one go at its end (the partners held).
type wholeRecorder struct {
	h        *runHistory
	partners []audit.Result
}

func (w *wholeRecorder) add(batch []audit.Result) ([]audit.Change, error) {
	w.partners = append(w.partners, batch...)
	return nil, nil
}

func (w *wholeRecorder) finish(head *audit.Results) ([]audit.Change, error) {
	res := *head
	res.Partners = w.partners
	err := w.h.db.Record(w.h.runID, &res)
	return res.Changes, err
}

// close marks a begun but unrecorded run interrupted, closes the database
// and releases the lock.
func (h *runHistory) close() {
	if h.db != nil {
		if h.runID != 0 {
			if err := h.db.Abandon(h.runID); err != nil {
				h.log.Warn("history: run not marked interrupted", "error", err)
			}
		}
		h.db.Close()
	}
	if err := h.lock.Release(); err != nil {
		h.log.Warn("history: lock not released", "error", fmt.Sprint(err))
	}
}

// maxStreakRuns bounds how many earlier runs are read to tell how long a
// target's mail has failed.
const maxStreakRuns = 60

// failingSince reads the earlier complete runs of this scope, newest
// first, and returns for each partner target (name and TargetResult.Key)
// the start of the oldest run of the unbroken streak in which our MTA's
// delivery to it did not flow; runs older than since are not read. A
// target that flowed in the newest earlier run has no entry.
func (h *runHistory) failingSince(cfg Config, since time.Time) map[string]time.Time {
	out := map[string]time.Time{}
	if h == nil || h.db == nil || h.err != nil {
		return out
	}
	inv, err := cfg.inventoryKey()
	if err != nil {
		return out
	}
	runs, err := h.db.Runs(history.RunFilter{Inventory: inv, Limit: maxStreakRuns})
	if err != nil {
		h.log.Warn("history: earlier runs not read; deferred mail is not told from bounced", "error", err)
		return out
	}
	closed := map[string]bool{}
	for i := len(runs) - 1; i >= 0; i-- {
		r := runs[i]
		if r.ID == h.runID || r.Status != history.StatusComplete || r.Vantage != cfg.Vantage || r.Shard != cfg.Shard.String() {
			continue
		}
		if r.Started.Before(since) {
			break
		}
		res, err := h.db.Results(r.ID)
		if err != nil {
			h.log.Warn("history: an earlier run not read", "run", r.ID, "error", err)
			break
		}
		seen := map[string]bool{}
		for _, p := range res.Partners {
			for _, t := range p.Targets {
				k := streakKey(p.Name, &t)
				seen[k] = true
				switch {
				case closed[k]:
				case t.Delivery == nil || audit.Flows(t.Delivery.Outcome) || t.Delivery.Outcome == audit.Undetermined:
					closed[k] = true
				default:
					out[k] = r.Started
				}
			}
		}
		for k := range out {
			if !seen[k] {
				closed[k] = true // the target was not audited then: the streak ends
			}
		}
	}
	return out
}

func streakKey(partner string, t *audit.TargetResult) string { return partner + "\x00" + t.Key() }
