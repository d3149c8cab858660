package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/promfile"
	"github.com/mxaudit/mxaudit/internal/spill"
	"github.com/mxaudit/mxaudit/reports"
)

// spilledPartners is a run read back from a spill file.
func spilledPartners(st *spill.Store[audit.Result]) audit.Each {
	return func(fn func(*audit.Result) error) error {
		return st.Each(func(_ int, r *audit.Result) error { return fn(r) })
	}
}

// writeStage writes results.json first (always, from each one partner at
// a time; res.Partners is not read for it), then the reports and the
// metrics file. An interrupt that came before this stage does not stop it
// (what is done gets written); one that comes during it stops the reports
// after the file under way.
func writeStage(ctx context.Context, cfg Config, res *audit.Results, each audit.Each, log *slog.Logger) error {
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	}
	var errs []error
	if cfg.Out != "" {
		errs = append(errs, writeResults(ctx, cfg, res, each, log))
	}
	if cfg.Metrics != "" {
		errs = append(errs, writeMetrics(cfg.Metrics, res, each, log))
	}
	return errors.Join(errs...)
}

func writeResults(ctx context.Context, cfg Config, res *audit.Results, each audit.Each, log *slog.Logger) error {
	path := filepath.Join(cfg.Out, reports.FileResultsJSON)
	n := 0
	counted := func(fn func(*audit.Result) error) error {
		return each(func(r *audit.Result) error { n++; return fn(r) })
	}
	if err := audit.WriteResultsStream(path, res, counted); err != nil {
		return &WriteError{File: path, Err: err}
	}
	log.Info("results written", "file", path, "partners", n)
	seq, serr := each.Seq()
	files, err := reports.WriteAllFrom(ctx, cfg.Out, res, seq, cfg.Reports.Formats, cfg.Reports.PerPartner, cfg.Reports.Options)
	if err = errors.Join(err, serr()); err != nil {
		err = &WriteError{File: cfg.Out, Err: err}
	}
	if !slices.Contains(cfg.Reports.Formats, reports.JSON) {
		// --format names what is left in the folder: results.json goes when json is not asked for.
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, &WriteError{File: path, Err: rerr})
		}
	}
	log.Info("reports written", "dir", cfg.Out, "files", len(files))
	return err
}

// writeMetrics writes the Prometheus textfile; an incomplete run keeps the
// time of the last successful one.
func writeMetrics(path string, res *audit.Results, each audit.Each, log *slog.Logger) error {
	var o promfile.Options
	if res.Incomplete {
		last, err := promfile.LastSuccess(path)
		if err != nil {
			log.Warn("previous metrics file unreadable; last success time left out", "error", err)
		}
		o.LastSuccess = last
	}
	seq, serr := each.Seq()
	if err := errors.Join(promfile.WriteFrom(path, res, seq, o), serr()); err != nil {
		return &WriteError{File: path, Err: err}
	}
	log.Info("metrics written", "file", path)
	return nil
}

// WriteError is a results, report or metrics file that could not be written.
type WriteError struct {
	File string
	Err  error
}

func (e *WriteError) Error() string { return fmt.Sprintf("writing %s: %v", e.File, e.Err) }
func (e *WriteError) Unwrap() error { return e.Err }
