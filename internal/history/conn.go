package history

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// execer is a *sql.DB, *sql.Conn or *sql.Tx.
type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
	PrepareContext(context.Context, string) (*sql.Stmt, error)
}

// conn runs the package's queries, written once with ? placeholders, on
// either backend: for PostgreSQL each ? becomes $1, $2, ... (no query of
// this package has a ? inside a string literal).
type conn struct {
	x  execer
	pg bool
}

func (c conn) rebind(q string) string {
	if !c.pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.x.ExecContext(ctx, c.rebind(q), args...)
}

func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.x.QueryContext(ctx, c.rebind(q), args...)
}

func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.x.QueryRowContext(ctx, c.rebind(q), args...)
}

func (c conn) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return c.x.PrepareContext(ctx, c.rebind(q))
}

// insertID runs an INSERT ... RETURNING id and returns the id (the pgx
// driver has no LastInsertId; SQLite has RETURNING since 3.35).
func insertID(ctx context.Context, c conn, q string, args ...any) (int64, error) {
	var id int64
	err := c.QueryRowContext(ctx, q+` RETURNING id`, args...).Scan(&id)
	return id, err
}

// c returns the database's connection pool as a conn.
func (db *DB) c() conn { return conn{x: db.sql, pg: db.pg} }

// tx returns tx as a conn of db's backend.
func (db *DB) tx(tx *sql.Tx) conn { return conn{x: tx, pg: db.pg} }
