package history

import (
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
type Lock struct {
	f *os.File
}

// LockedError says another process holds the lock.
type LockedError struct {
	Path string // the lock file
	PID  int    // the holder's process id as it wrote it, or 0
}

func (e *LockedError) Error() string {
	holder := "another mxaudit scan"
	if e.PID > 0 {
		holder = fmt.Sprintf("another mxaudit scan (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s holds the history lock %s; not starting a second scan of the same database", holder, e.Path)
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
