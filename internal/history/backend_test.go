package history

import (
	"testing"

	"github.com/mxaudit/mxaudit/internal/pgtest"
)

// eachBackend runs f on a new SQLite database and on a new database of the
// shared PostgreSQL test server (skipped when PostgreSQL is not installed,
// failed under CI=true), so both backends answer the same tests.
func eachBackend(t *testing.T, f func(t *testing.T, db *DB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openTest(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, openPGTest(t)) })
}

// openPGTest opens a new, empty PostgreSQL history database.
func openPGTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(pgtest.Shared(t).CreateDB(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openLike opens another new database of db's backend.
func openLike(t *testing.T, db *DB) *DB {
	t.Helper()
	if db.Postgres() {
		return openPGTest(t)
	}
	return openTest(t)
}
