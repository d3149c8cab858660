package history

import (
	"errors"
	"fmt"
	"strings"
)

// Operations an *Error names, so that the CLI can map each to its exit code and hint.
const (
	OpOpen   = "open"   // opening, reading the header, migrating
	OpLock   = "lock"   // taking the lock file (another holder is a *LockedError)
	OpRecord = "record" // beginning or recording a run
	OpRead   = "read"   // listing, diffing, loading runs
	OpCheck  = "check"  // the integrity check
)

// ErrCorrupt says the database file is damaged: SQLite found a malformed
// page, the file is not an SQLite database at all, or the integrity check
// failed.
var ErrCorrupt = errors.New("the history database is damaged")

// ErrReadOnly says the database or its folder cannot be written.
var ErrReadOnly = errors.New("the history database is read-only")

// Error is a failure of the history database: what was being done, on
// which file, and why. It unwraps to the cause, and to ErrCorrupt or
// ErrReadOnly when SQLite says so.
type Error struct {
	Op   string // OpOpen, OpLock, OpRecord, OpRead or OpCheck
	Path string // the database file
	Err  error
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	if !strings.Contains(msg, e.Path) {
		msg = fmt.Sprintf("history database %s: %s", e.Path, msg)
	}
	switch {
	case errors.Is(e.Err, ErrCorrupt):
		msg += " (check it with `mxaudit history --check --db " + e.Path + "`; move it aside to start a new history, or scan with --no-history)"
	case errors.Is(e.Err, ErrReadOnly) && e.Op != OpRead && e.Op != OpCheck:
		msg += " (scan with --no-history, or give the database's folder write access)"
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// SQLite primary result codes classify uses (https://sqlite.org/rescode.html).
const (
	sqliteReadOnly = 8
	sqliteCorrupt  = 11
	sqliteNotADB   = 26
)

// classify adds ErrCorrupt or ErrReadOnly to an SQLite or PostgreSQL error that means it.
func classify(err error) error {
	var coded interface{ Code() int }
	if err == nil {
		return nil
	}
	if !errors.As(err, &coded) {
		return classifyPG(err)
	}
	switch coded.Code() & 0xff {
	case sqliteCorrupt, sqliteNotADB:
		if !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	case sqliteReadOnly:
		if !errors.Is(err, ErrReadOnly) {
			return fmt.Errorf("%w: %w", ErrReadOnly, err)
		}
	}
	return err
}

// wrap returns err as an *Error of op on db's file, classified; nil stays nil,
// and an *Error or *LockedError is returned as it is.
func (db *DB) wrap(op string, err error) error {
	return wrapPath(op, db.path, err)
}

func wrapPath(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var he *Error
	var le *LockedError
	var tn *SchemaTooNewError
	if errors.As(err, &he) || errors.As(err, &le) || errors.As(err, &tn) {
		return err
	}
	return &Error{Op: op, Path: path, Err: classify(err)}
}
