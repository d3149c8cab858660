package history

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive advisory lock (flock) on the file beside a history
// database, held by one scan from before probing until its run is recorded.
// The kernel releases it when the process dies, so a killed scan never
// leaves a stale lock.
//
// On PostgreSQL, where several scanners share one database, the lock is a
// session-level advisory lock per Scope (inventory, vantage point, shard),
// held on a connection of its own: scans of other scopes run at the same
// time, and the server releases the lock when the scan's session ends.
type Lock struct {
	f    *os.File
	conn *sql.Conn // PostgreSQL: the session holding the advisory lock
	key  int64
}

// LockedError says another process holds the lock.
type LockedError struct {
	Path   string // the lock file, or the PostgreSQL database (without password)
	PID    int    // the holder's process id as it wrote it, or 0
	Scope  string // PostgreSQL: the scope locked, in words
	Holder string // PostgreSQL: the holder's session (ApplicationName and address), or ""
}

func (e *LockedError) Error() string {
	holder := "another mxaudit scan"
	switch {
	case e.PID > 0:
		holder = fmt.Sprintf("another mxaudit scan (pid %d)", e.PID)
	case e.Holder != "":
		holder = fmt.Sprintf("another mxaudit scan (%s)", e.Holder)
	}
	if e.Scope != "" {
		return fmt.Sprintf("%s holds the history lock of %s in %s; not starting a second scan of it", holder, e.Scope, e.Path)
	}
	return fmt.Sprintf("%s holds the history lock %s; not starting a second scan of the same database", holder, e.Path)
}

// Acquire opens the history database at target for a scan of scope s and
// takes the lock: for an SQLite file the lock beside it, taken before the
// file is opened; for PostgreSQL the scope's advisory lock. A held lock is a
// *LockedError (nothing was opened); other failures are an *Error.
func Acquire(target string, s Scope, o Options) (*DB, *Lock, error) {
	if !IsURL(target) {
		lock, err := TryLock(target)
		if err != nil {
			return nil, nil, err
		}
		db, err := Open(target, o)
		if err != nil {
			lock.Release()
			return nil, nil, err
		}
		return db, lock, nil
	}
	db, err := Open(target, o)
	if err != nil {
		return nil, nil, err
	}
	lock, err := db.tryLockPG(s)
	if err != nil {
		db.Close()
		return nil, nil, db.wrap(OpLock, err)
	}
	return db, lock, nil
}

// LockPath returns the lock file used for the database at dbPath.
func LockPath(dbPath string) string { return dbPath + ".lock" }

// TryLock takes the lock for the database at dbPath without waiting; when
// another process holds it, it returns a *LockedError.
func TryLock(dbPath string) (_ *Lock, err error) {
	defer func() { err = wrapPath(OpLock, dbPath, err) }()
	path := LockPath(dbPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("history lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("history lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b := make([]byte, 32)
			n, _ := f.ReadAt(b, 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
			return nil, &LockedError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("history lock %s: %w", path, err)
	}
	// Best effort: the pid only makes the message of a second scan clearer.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up; it is safe to call more than once.
func (l *Lock) Release() error {
	if l != nil && l.conn != nil {
		return l.releasePG()
	}
	if l == nil || l.f == nil {
		return nil
	}
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
