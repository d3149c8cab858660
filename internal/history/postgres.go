package history

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL connection settings.
const (
	pgConnectTimeout = 10 * time.Second // unless the URL sets connect_timeout
	pgPoolSize       = 4                // connections per process: the run's lock holds one
)

// pgSessionDefaults bound every statement, and a transaction left idle by
// a scanner that vanished (its host gone rather than its process): the
// server ends such a session, freeing its locks. A URL may set others.
var pgSessionDefaults = map[string]string{
	"statement_timeout":                   "10min",
	"idle_in_transaction_session_timeout": "10min",
}

// pgMigrateLock is the advisory lock key that serialises migrations of one
// PostgreSQL database (several scanners may start at once).
const pgMigrateLock = int64(applicationID)<<32 | 1

// IsURL reports whether target names a PostgreSQL database (a postgres://
// or postgresql:// URL) rather than an SQLite file.
func IsURL(target string) bool {
	t := strings.ToLower(target)
	return strings.HasPrefix(t, "postgres://") || strings.HasPrefix(t, "postgresql://")
}

// Redact returns target without its password (in the URL's user
// information or a password= parameter), for messages and logs.
func Redact(target string) string {
	if !IsURL(target) {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// passwordOf returns the password written in a URL, or "".
func passwordOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	if pw, ok := u.User.Password(); ok {
		return pw
	}
	return u.Query().Get("password")
}

// scrubbed is an error whose text had a password taken out.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// scrub removes pw from err's text, in case a driver error quotes it.
func scrub(err error, pw string) error {
	if err == nil || pw == "" || !strings.Contains(err.Error(), pw) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), pw, "xxxxx"), err: err}
}

// ApplicationName is what mxaudit's PostgreSQL sessions call themselves
// (pg_stat_activity), so that a scan refused by a held lock can say which
// process on which host holds it.
func ApplicationName() string {
	host, _ := os.Hostname()
	name := fmt.Sprintf("mxaudit pid %d on %s", os.Getpid(), host)
	if len(name) > 63 { // NAMEDATALEN - 1
		name = name[:63]
	}
	return name
}

func openPostgres(dsn string, o Options) (*DB, error) {
	pw := passwordOf(dsn)
	db, err := openPG(dsn, o)
	return db, scrub(err, pw)
}

func openPG(dsn string, o Options) (*DB, error) {
	shown := Redact(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("history database %s: %w", shown, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	if _, set := cfg.RuntimeParams["application_name"]; !set {
		cfg.RuntimeParams["application_name"] = ApplicationName()
	}
	for k, v := range pgSessionDefaults {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	if o.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxOpenConns(pgPoolSize)
	sdb.SetMaxIdleConns(pgPoolSize)
	db := &DB{sql: sdb, path: shown, pg: true, readOnly: o.ReadOnly}
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.ConnectTimeout)
	defer cancel()
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("history database %s: %w", shown, err)
	}
	switch {
	case o.ReadOnly:
		err = db.checkReadablePG(ctx)
	case o.MustExist:
		var found bool
		if _, _, found, err = db.pgVersion(ctx, db.sql); err == nil && !found {
			err = fmt.Errorf("history database %s holds no mxaudit history: %w", shown, fs.ErrNotExist)
		}
		if err == nil {
			err = db.migratePG(context.Background())
		}
	default:
		err = db.migratePG(context.Background())
	}
	if err != nil {
		sdb.Close()
		return nil, err
	}
	if !o.ReadOnly {
		db.schema = SchemaVersion
	}
	return db, nil
}

// pgVersion reads the schema table; found is false when there is none.
func (db *DB) pgVersion(ctx context.Context, q rowQuerier) (ver, app int, found bool, err error) {
	var reg sql.NullString
	if err := q.QueryRowContext(ctx, `SELECT to_regclass('mxaudit_schema')::text`).Scan(&reg); err != nil {
		return 0, 0, false, fmt.Errorf("history database %s: %w", db.path, err)
	}
	if !reg.Valid {
		return 0, 0, false, nil
	}
	if err := q.QueryRowContext(ctx, `SELECT application_id, version FROM mxaudit_schema`).Scan(&app, &ver); err != nil {
		return 0, 0, false, fmt.Errorf("history database %s: reading the schema version: %w", db.path, err)
	}
	return ver, app, true, nil
}

// checkReadablePG refuses a database without an mxaudit history (wrapping
// fs.ErrNotExist), of another application, or of a newer schema.
func (db *DB) checkReadablePG(ctx context.Context) error {
	ver, app, found, err := db.pgVersion(ctx, db.sql)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("history database %s holds no mxaudit history (run a scan with it first): %w", db.path, fs.ErrNotExist)
	case app != applicationID:
		return fmt.Errorf("%s: %w (application_id %#x)", db.path, ErrNotHistory, app)
	case ver > SchemaVersion:
		return &SchemaTooNewError{Path: db.path, Have: ver, Known: SchemaVersion}
	case ver < minReadOnlySchema:
		return fmt.Errorf("history database %s has schema version %d, which cannot be read without migrating it: %w", db.path, ver, ErrReadOnly)
	}
	db.schema = ver
	return nil
}

// migratePG brings the schema to SchemaVersion in one transaction, under
// an advisory lock so that scanners starting together migrate once. A
// database whose current schema holds tables but no mxaudit_schema is
// another application's and is refused.
func (db *DB) migratePG(ctx context.Context) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("history database %s: %w", db.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLock); err != nil {
		return fmt.Errorf("history database %s: waiting for another migration: %w", db.path, err)
	}
	ver, app, found, err := db.pgVersion(ctx, tx)
	if err != nil {
		return err
	}
	if !found {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
			return fmt.Errorf("history database %s: %w", db.path, err)
		}
		if n > 0 {
			return fmt.Errorf("%s: %w (its schema holds %d tables and no mxaudit_schema; give mxaudit a database or a schema of its own, e.g. ?search_path=mxaudit)", db.path, ErrNotHistory, n)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE mxaudit_schema (application_id BIGINT NOT NULL, version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("history database %s: %w", db.path, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mxaudit_schema VALUES ($1, 0)`, applicationID); err != nil {
			return fmt.Errorf("history database %s: %w", db.path, err)
		}
		app = applicationID
	}
	switch {
	case app != applicationID:
		return fmt.Errorf("%s: %w (application_id %#x)", db.path, ErrNotHistory, app)
	case ver > SchemaVersion:
		return &SchemaTooNewError{Path: db.path, Have: ver, Known: SchemaVersion}
	case ver == SchemaVersion:
		return nil
	}
	for v := ver; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, pgMigrations[v]); err != nil {
			return fmt.Errorf("history database %s: migrating to schema %d: %w", db.path, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mxaudit_schema SET version = $1`, SchemaVersion); err != nil {
		return fmt.Errorf("history database %s: %w", db.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("history database %s: migrating: %w", db.path, err)
	}
	return nil
}

// tryLockPG takes the scope's advisory lock on a connection of its own,
// held until Release or until the process (and so its session) dies.
func (db *DB) tryLockPG(s Scope) (*Lock, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*pgConnectTimeout)
	defer cancel()
	c, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("history lock: %w", err)
	}
	key := s.lockKey()
	var ok bool
	if err := c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		c.Close()
		return nil, fmt.Errorf("history lock: %w", err)
	}
	if !ok {
		holder := db.lockHolder(ctx, c, key)
		c.Close()
		return nil, &LockedError{Path: db.path, Scope: s.String(), Holder: holder}
	}
	return &Lock{conn: c, key: key}, nil
}

// lockHolder names the session holding advisory lock key, or "".
func (db *DB) lockHolder(ctx context.Context, c *sql.Conn, key int64) string {
	var who sql.NullString
	c.QueryRowContext(ctx, `SELECT a.application_name || coalesce(' from ' || host(a.client_addr), '')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = $1 AND l.objid::bigint = $2
		LIMIT 1`, int64(uint64(key)>>32), int64(uint32(key))).Scan(&who)
	return who.String
}

// lockHeld reports whether some session holds scope s's lock (a run marked
// running whose scope's lock is free was left by a process that died).
func (db *DB) lockHeld(ctx context.Context, s Scope) (bool, error) {
	key := s.lockKey()
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2`,
		int64(uint64(key)>>32), int64(uint32(key))).Scan(&n)
	return n > 0, err
}

// releasePG gives the advisory lock up; a connection that cannot say so is
// closed rather than returned to the pool still holding it.
func (l *Lock) releasePG() error {
	ctx, cancel := context.WithTimeout(context.Background(), pgConnectTimeout)
	defer cancel()
	_, err := l.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, l.key)
	if err != nil {
		l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if cerr := l.conn.Close(); err == nil {
		err = cerr
	}
	l.conn = nil
	return err
}

// PostgreSQL error codes classify uses (SQLSTATE).
const (
	pgReadOnlyTransaction = "25006"
	pgDataCorrupted       = "XX001"
	pgIndexCorrupted      = "XX002"
	pgDeadlock            = "40P01"
	pgSerialization       = "40001"
)

// classifyPG adds ErrCorrupt or ErrReadOnly to a PostgreSQL error that means it.
func classifyPG(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case pgDataCorrupted, pgIndexCorrupted:
		if !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	case pgReadOnlyTransaction:
		if !errors.Is(err, ErrReadOnly) {
			return fmt.Errorf("%w: %w", ErrReadOnly, err)
		}
	}
	return err
}

// retryable reports whether err is a PostgreSQL deadlock or serialization
// failure, after which the whole transaction may simply be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == pgDeadlock || pe.Code == pgSerialization)
}

// analyzeIfStale gives PostgreSQL's planner statistics of the tables a
// Recorder looks up batch by batch (results, targets, partners) when they
// have none or when a tenth of their rows changed since (a first run's
// rows, recorded in one transaction, before autovacuum saw them): without
// them it scans a whole run for every batch. Best effort, in a short
// transaction of its own that waits at most 2 s for a lock (autovacuum
// or another scanner analyzing the same table): on failure the run goes on.
func (db *DB) analyzeIfStale(ctx context.Context) {
	rows, err := db.sql.QueryContext(ctx, `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname IN ('results', 'targets', 'partners')
		AND (coalesce(last_analyze, last_autoanalyze) IS NULL OR n_mod_since_analyze > greatest(n_live_tup, 1000) / 10)`)
	if err != nil {
		return
	}
	var stale []string
	for rows.Next() {
		var t string
		if rows.Scan(&t) == nil {
			stale = append(stale, t)
		}
	}
	rows.Close()
	db.analyze(ctx, stale...)
}

// analyze analyzes tables (of a fixed list) in a short transaction that
// waits at most 2 s for a lock; best effort.
func (db *DB) analyze(ctx context.Context, tables ...string) {
	if len(tables) == 0 {
		return
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '2s'; ANALYZE `+strings.Join(tables, ", ")); err == nil {
		tx.Commit()
	}
}
