package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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
	inv := cfg.Inventory
	if inv != "" {
		if inv, err = filepath.Abs(inv); err != nil {
			return h.fail(shown, err), nil
		}
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

// record stores res as the begun run and fills res.Changes; it returns
// the history's failure, if any, as a *HistoryError.
func (h *runHistory) record(res *audit.Results) error {
	if h.err != nil || h.db == nil {
		return h.err
	}
	if err := h.db.Record(h.runID, res); err != nil {
		h.err = &HistoryError{Path: h.db.Path(), Err: err}
		h.log.Error("history not recorded; results are still written", "error", h.err)
		return h.err
	}
	h.runID = 0
	h.log.Info("scan recorded", "db", h.db.Path(), "changes", len(res.Changes))
	for _, ch := range res.Changes {
		h.log.Info("change", "partner", ch.Partner, "kind", ch.Kind, "before", ch.Before, "after", ch.After, "since_run", ch.SinceRun)
	}
	return nil
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
