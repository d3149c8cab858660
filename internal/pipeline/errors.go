package pipeline

import (
	"errors"
	"fmt"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
)

// Exit codes of mxaudit, one per kind of outcome; ExitCode maps errors to them.
const (
	ExitOK          = 0   // nothing at or above --fail-on
	ExitFindings    = 1   // something at or above --fail-on
	ExitUsage       = 2   // usage error, unreadable or empty inventory, --strict with bad rows, unwritable --out
	ExitInternal    = 3   // internal failure, or a results or report file not written
	ExitLocked      = 4   // another scan holds the history database's lock
	ExitHistory     = 5   // the history database failed; results and reports are written
	ExitInterrupted = 130 // interrupted (SIGINT, SIGTERM, SIGHUP); what was done is written, marked incomplete
)

// ErrInterrupted says the run was interrupted and its results are incomplete.
var ErrInterrupted = errors.New("interrupted: results are incomplete")

// UsageError is a problem with what the run was asked to do; nothing was probed.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// HistoryError is a history database that could not be used or written.
type HistoryError struct {
	Path string
	Err  error
}

func (e *HistoryError) Error() string {
	return fmt.Sprintf("history %s: %v (the results are written; run 'mxaudit history --check --db %s', or scan with --no-history)", e.Path, e.Err, e.Path)
}
func (e *HistoryError) Unwrap() error { return e.Err }

// ExitCode maps the outcome of a run to the process exit code: the most
// pressing error wins (internal, interrupted, lock, history, usage), then
// findings at or above failOn in the run.
func ExitCode(run *Run, err error, failOn audit.Severity) int {
	var (
		ue *UsageError
		he *HistoryError
		we *WriteError
		le *history.LockedError
	)
	switch {
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &le):
		return ExitLocked
	case errors.As(err, &we):
		return ExitInternal
	case errors.Is(err, ErrInterrupted):
		return ExitInterrupted
	case errors.As(err, &he):
		return ExitHistory
	case err != nil:
		return ExitInternal
	}
	if run != nil && run.Tally.Worst.Level() >= failOn.Level() {
		return ExitFindings
	}
	return ExitOK
}
