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

// recorder begins recording the run's partners as they come (one
// transaction, committed by finish), or returns nil when the history is off
// or unusable.
func (h *runHistory) recorder(head *audit.Results) recorder {
	if h.err != nil || h.db == nil {
		return nil
	}
	rec, err := h.db.Recorder(h.runID, head)
	if err != nil {
		h.failed(err)
		return nil
	}
	return &dbRecorder{rec}
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

// dbRecorder records into the history database.
type dbRecorder struct{ r *history.Recorder }

func (d *dbRecorder) prior(batch []audit.Result) (history.Prior, error) { return d.r.Prior(batch) }
func (d *dbRecorder) add(batch []audit.Result) ([]audit.Change, error)  { return d.r.Add(batch) }
func (d *dbRecorder) finish(head *audit.Results) ([]audit.Change, error) {
	return d.r.Finish(head)
}
func (d *dbRecorder) close() { d.r.Close() }

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
