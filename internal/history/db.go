package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// DB is an open history database.
type DB struct {
	sql      *sql.DB
	path     string // the file, or the PostgreSQL URL without its password
	pg       bool   // PostgreSQL, not SQLite
	readOnly bool
	schema   int // the schema version of the database as opened (SchemaVersion unless read-only)
}

// Options tune Open.
type Options struct {
	// MustExist makes Open fail with an error wrapping fs.ErrNotExist instead
	// of creating a missing database (for the commands that only read).
	MustExist bool
	// ReadOnly opens the database for reading only (history, diff, report):
	// nothing is written, migrated or switched to WAL, so a database on a
	// read-only medium or owned by another user can still be read. A
	// database older than schema 2 cannot be read this way. Implies MustExist.
	ReadOnly bool
	// BusyTimeoutMS is how long a statement waits for another writer; 0
	// means 10 s (SQLite only: PostgreSQL writers wait for each other).
	BusyTimeoutMS int
}

// minReadOnlySchema is the oldest schema the read-only paths can read as it is.
const minReadOnlySchema = 2

// SchemaTooNewError says the database was written by a newer mxaudit.
type SchemaTooNewError struct {
	Path  string
	Have  int // the database's schema version
	Known int // the newest version this binary knows
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("history database %s has schema version %d, this mxaudit knows up to %d: use a newer mxaudit or another --db (the database was left untouched)", e.Path, e.Have, e.Known)
}

// ErrNotHistory says the file is an SQLite database of something else.
var ErrNotHistory = errors.New("not an mxaudit history database")

// DefaultPath returns $XDG_STATE_HOME/mxaudit/history.db, or
// ~/.local/state/mxaudit/history.db when XDG_STATE_HOME is unset or relative.
func DefaultPath() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "mxaudit", "history.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("history database path: %w", err)
	}
	return filepath.Join(home, ".local", "state", "mxaudit", "history.db"), nil
}

// Open opens (creating if needed) the history database at path and
// migrates it to SchemaVersion: an SQLite file, or a PostgreSQL database
// when path is a postgres:// or postgresql:// URL (see IsURL). A database
// with a newer schema is refused with a *SchemaTooNewError and left as it
// is. Other failures are an *Error with Op OpOpen (wrapping ErrCorrupt for a
// damaged file).
func Open(path string, o Options) (*DB, error) {
	if IsURL(path) {
		db, err := openPostgres(path, o)
		return db, wrapPath(OpOpen, Redact(path), err)
	}
	db, err := open(path, o)
	return db, wrapPath(OpOpen, path, err)
}

func open(path string, o Options) (*DB, error) {
	if o.ReadOnly {
		o.MustExist = true
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("history database %q: the path must not contain '?' or '#'", path)
	}
	if _, err := os.Stat(path); err != nil {
		if o.MustExist || !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("history database: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("history database: %w", err)
		}
	}
	busy := o.BusyTimeoutMS
	if busy <= 0 {
		busy = 10000
	}
	dsn := fmt.Sprintf("file:%s?_txlock=immediate&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)", path, busy)
	if o.ReadOnly {
		dsn = fmt.Sprintf("file:%s?mode=ro&_pragma=busy_timeout(%d)&_pragma=query_only(1)", path, busy)
	}
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("history database %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and it keeps the
	// pragmas and the temp store in one place.
	sdb.SetMaxOpenConns(1)
	db := &DB{sql: sdb, path: path, readOnly: o.ReadOnly}
	if o.ReadOnly {
		err := db.checkReadable(context.Background())
		if errors.Is(classify(err), ErrReadOnly) && !exists(path+"-wal") {
			// A WAL database in a folder we cannot write: SQLite cannot
			// create the -shm file. With no -wal file there is no pending
			// transaction, and no writer can be at work where we cannot
			// create files either: read the file as immutable.
			sdb.Close()
			sdb, err = sql.Open("sqlite", fmt.Sprintf("file:%s?mode=ro&immutable=1&_pragma=query_only(1)", path))
			if err != nil {
				return nil, fmt.Errorf("history database %s: %w", path, err)
			}
			sdb.SetMaxOpenConns(1)
			db.sql = sdb
			err = db.checkReadable(context.Background())
		}
		if err != nil {
			sdb.Close()
			return nil, err
		}
		return db, nil
	}
	if err := db.migrate(context.Background()); err != nil {
		sdb.Close()
		return nil, err
	}
	db.schema = SchemaVersion
	return db, nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Path returns the file the database lives in, or its PostgreSQL URL
// without the password.
func (db *DB) Path() string { return db.path }

// Postgres reports whether the database is a PostgreSQL one.
func (db *DB) Postgres() bool { return db.pg }

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// rowQuerier is a *sql.DB or *sql.Tx.
type rowQuerier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// version returns the database's user_version and application_id.
func (db *DB) version(ctx context.Context, q rowQuerier) (ver, app int, err error) {
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return 0, 0, fmt.Errorf("history database %s: %w", db.path, err)
	}
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return 0, 0, fmt.Errorf("history database %s: %w", db.path, err)
	}
	return ver, app, nil
}

// migrate brings the schema to SchemaVersion in one transaction.
func (db *DB) migrate(ctx context.Context) error {
	ver, app, err := db.version(ctx, db.sql)
	if err != nil {
		return err
	}
	if ver > SchemaVersion && app == applicationID {
		return &SchemaTooNewError{Path: db.path, Have: ver, Known: SchemaVersion}
	}
	if app != applicationID {
		if err := db.checkEmpty(ctx, db.sql, ver, app); err != nil {
			return err
		}
	}
	// journal_mode cannot change inside a transaction; it is persistent, so
	// this is a no-op on every open but the first.
	if err := db.walMode(ctx); err != nil {
		return err
	}
	if ver == SchemaVersion {
		return nil
	}
	tx, err := db.sql.BeginTx(ctx, nil) // immediate: one migrator at a time
	if err != nil {
		return fmt.Errorf("history database %s: %w", db.path, err)
	}
	defer tx.Rollback()
	// Read again under the write lock: another process may have migrated meanwhile.
	if ver, app, err = db.version(ctx, tx); err != nil {
		return err
	}
	if app != applicationID {
		if err := db.checkEmpty(ctx, tx, ver, app); err != nil {
			return err
		}
	}
	if ver > SchemaVersion {
		return &SchemaTooNewError{Path: db.path, Have: ver, Known: SchemaVersion}
	}
	for v := ver; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("history database %s: migrating to schema %d: %w", db.path, v+1, err)
		}
	}
	// PRAGMA does not take parameters; both values are integers from this file.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion)); err != nil {
		return fmt.Errorf("history database %s: %w", db.path, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return fmt.Errorf("history database %s: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history database %s: migrating: %w", db.path, err)
	}
	return nil
}

// checkReadable refuses, for a read-only open, a file that is not a history
// database this binary can read without migrating it.
func (db *DB) checkReadable(ctx context.Context) error {
	ver, app, err := db.version(ctx, db.sql)
	if err != nil {
		return err
	}
	switch {
	case app != applicationID:
		return fmt.Errorf("%s: %w (application_id %#x)", db.path, ErrNotHistory, app)
	case ver > SchemaVersion:
		return &SchemaTooNewError{Path: db.path, Have: ver, Known: SchemaVersion}
	case ver < minReadOnlySchema:
		return fmt.Errorf("history database %s has schema version %d, which cannot be read without migrating it: %w (run a scan with this database once)", db.path, ver, ErrReadOnly)
	}
	db.schema = ver
	return nil
}

// ReadOnly reports whether the database was opened with Options.ReadOnly.
func (db *DB) ReadOnly() bool { return db.readOnly }

// checkEmpty refuses a database that is not ours unless it is empty.
func (db *DB) checkEmpty(ctx context.Context, q rowQuerier, ver, app int) error {
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return fmt.Errorf("history database %s: %w", db.path, err)
	}
	if n > 0 || ver != 0 {
		return fmt.Errorf("%s: %w (application_id %#x)", db.path, ErrNotHistory, app)
	}
	return nil
}

func (db *DB) walMode(ctx context.Context) error {
	var mode string
	if err := db.sql.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("history database %s: setting WAL mode: %w", db.path, err)
	}
	return nil
}
