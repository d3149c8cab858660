// Package regfile reads the files an admin names on the command line or
// drops into a directory (inventory, root stores, the SMTP password file,
// the check config): regular files only, each kind with a size
// cap, so that a FIFO never blocks a run and a symlink to /dev/zero never
// eats the memory.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// Size caps, one per kind of file: the single home of these limits.
const (
	MaxInventory = 64 << 20 // a partner inventory CSV read whole (about 500,000 rows)
	// MaxInventoryStream caps an inventory CSV read a row at a time (a
	// scan's): memory holds one row, so the cap bounds only the run (about
	// 30 million rows).
	MaxInventoryStream = 2 << 30
	MaxRoots           = 16 << 20 // one roots file: PEM, DER, PKCS#7 or a Windows .sst store
	MaxPassword        = 4 << 10  // the SMTP password file
	MaxConfig          = 1 << 20  // the TOML check config
)

// ErrNotRegular says the path is a FIFO, a device, a socket or a directory.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge says the file is larger than its cap.
var ErrTooLarge = errors.New("file too large")

// Error says why a file was not read; it unwraps to ErrNotRegular,
// ErrTooLarge or the system error.
type Error struct {
	Path   string
	Reason string // in words: "a FIFO (named pipe), not a regular file", "5.0 MiB, over the 4 KiB limit"
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Path, e.Reason) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Read returns the content of the regular file at path (symlinks followed)
// when it holds at most max bytes. A FIFO, device, socket or directory is
// refused without being read (a FIFO is opened non-blocking, so a missing
// writer cannot hang the caller), and so is a file over max bytes.
func Read(path string, max int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Path: path, Reason: reason(err), Err: err}
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should path have been swapped for a FIFO since the Stat,
	// opening it still returns at once; regular files ignore the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{Path: path, Reason: reason(err), Err: err}
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, &Error{Path: path, Reason: reason(err), Err: err}
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &Error{Path: path, Reason: reason(err), Err: err}
	}
	if int64(len(b)) > max { // grew while being read
		return nil, &Error{Path: path, Reason: fmt.Sprintf("grew past the %s limit while being read", size(max)), Err: ErrTooLarge}
	}
	return b, nil
}

// Open opens the regular file at path (symlinks followed) of at most max
// bytes for reading, with Read's refusals; the caller reads it at most
// max bytes, a piece at a time, and closes it.
func Open(path string, max int64) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Path: path, Reason: reason(err), Err: err}
	}
	if err := check(path, st, max); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{Path: path, Reason: reason(err), Err: err}
	}
	if st, err = f.Stat(); err == nil {
		err = check(path, st, max)
	} else {
		err = &Error{Path: path, Reason: reason(err), Err: err}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Check reports, without reading anything, whether path is a regular file
// of at most max bytes, with the same errors as Read.
func Check(path string, max int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return &Error{Path: path, Reason: reason(err), Err: err}
	}
	return check(path, st, max)
}

func check(path string, st fs.FileInfo, max int64) error {
	if !st.Mode().IsRegular() {
		return &Error{Path: path, Reason: kind(st.Mode()) + ", not a regular file", Err: ErrNotRegular}
	}
	if st.Size() > max {
		return &Error{Path: path, Reason: fmt.Sprintf("%s, over the %s limit", size(st.Size()), size(max)), Err: ErrTooLarge}
	}
	return nil
}

// kind names a non-regular file mode.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}

func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// size writes n bytes the way people read them.
func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadSecret returns the first line of the password file at path (without
// its line ending), read under MaxPassword. The secret is never part of an error.
func ReadSecret(path string) (string, error) {
	b, err := Read(path, MaxPassword)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimRight(line, "\r"), nil
}
