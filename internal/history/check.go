package history

import (
	"context"
	"errors"
	"fmt"
)

// maxCheckProblems bounds the problems Check collects (SQLite's own default for integrity_check).
const maxCheckProblems = 100

// CheckReport is what Check found.
type CheckReport struct {
	Path     string   `json:"path"`
	Quick    bool     `json:"quick"`    // quick_check instead of integrity_check
	Schema   int      `json:"schema"`   // the database's schema version
	Runs     int      `json:"runs"`     // runs recorded, when they could be counted
	Problems []string `json:"problems"` // SQLite's messages; empty when the database is healthy
}

// OK reports whether the check found nothing wrong.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check runs SQLite's integrity_check (quick_check when quick: O(N)
// instead of O(N log N), without the index cross-checks) and its foreign
// key check over db, and counts the runs. Nothing is written. When the
// check finds damage the report lists it and the error is an *Error
// wrapping ErrCorrupt; a check that cannot even run returns the same.
//
// On PostgreSQL, whose server checks its own pages, Check reads the schema
// version and checks that every complete run holds the results it
// recorded.
func (db *DB) Check(quick bool) (*CheckReport, error) {
	ctx := context.Background()
	rep := &CheckReport{Path: db.path, Quick: quick, Problems: []string{}}
	if db.pg {
		return db.checkPG(ctx, rep)
	}
	pragma := fmt.Sprintf("PRAGMA integrity_check(%d)", maxCheckProblems)
	if quick {
		pragma = fmt.Sprintf("PRAGMA quick_check(%d)", maxCheckProblems)
	}
	if err := db.sql.QueryRowContext(ctx, "PRAGMA user_version").Scan(&rep.Schema); err != nil {
		return db.checkFailed(rep, err)
	}
	rows, err := db.sql.QueryContext(ctx, pragma)
	if err != nil {
		return db.checkFailed(rep, err)
	}
	for rows.Next() {
		var msg string
		if err := rows.Scan(&msg); err != nil {
			rows.Close()
			return db.checkFailed(rep, err)
		}
		if msg != "ok" {
			rep.Problems = append(rep.Problems, msg)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return db.checkFailed(rep, err)
	}
	fk, err := db.sql.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return db.checkFailed(rep, err)
	}
	for fk.Next() && len(rep.Problems) < maxCheckProblems {
		var table, parent string
		var rowid, fkid any
		if err := fk.Scan(&table, &rowid, &parent, &fkid); err != nil {
			fk.Close()
			return db.checkFailed(rep, err)
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf("table %s row %v refers to a missing row of %s", table, rowid, parent))
	}
	fk.Close()
	if err := fk.Err(); err != nil {
		return db.checkFailed(rep, err)
	}
	if err := db.sql.QueryRowContext(ctx, "SELECT count(*) FROM runs").Scan(&rep.Runs); err != nil && len(rep.Problems) == 0 {
		return db.checkFailed(rep, err)
	}
	if len(rep.Problems) > 0 {
		return rep, &Error{Op: OpCheck, Path: db.path, Err: fmt.Errorf("%w: %d problem(s) found, the first: %s", ErrCorrupt, len(rep.Problems), rep.Problems[0])}
	}
	return rep, nil
}

// checkFailed is Check's answer when a step of it fails: a damaged
// database (SQLite refuses to read a page) is a problem of the report too,
// so that a report with ErrCorrupt always says what is wrong.
func (db *DB) checkFailed(rep *CheckReport, err error) (*CheckReport, error) {
	werr := db.wrap(OpCheck, err)
	if errors.Is(werr, ErrCorrupt) && len(rep.Problems) < maxCheckProblems {
		rep.Problems = append(rep.Problems, err.Error())
	}
	return rep, werr
}

// CheckFile opens the database at path read-only and checks it (see
// Check). A file too damaged to open gives an *Error wrapping ErrCorrupt
// and a report with that one problem.
func CheckFile(path string, quick bool) (*CheckReport, error) {
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		rep := &CheckReport{Path: Redact(path), Quick: quick, Problems: []string{}}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotHistory) {
			rep.Problems = append(rep.Problems, err.Error())
		}
		return rep, err
	}
	defer db.Close()
	return db.Check(quick)
}

// checkPG is Check on PostgreSQL.
func (db *DB) checkPG(ctx context.Context, rep *CheckReport) (*CheckReport, error) {
	rep.Schema = db.schema
	rows, err := db.c().QueryContext(ctx, `SELECT r.id, r.partners, count(x.seq) FROM runs r LEFT JOIN results x ON x.run_id = r.id
		WHERE r.status = ? GROUP BY r.id, r.partners HAVING count(x.seq) <> r.partners ORDER BY r.id LIMIT ?`, StatusComplete, maxCheckProblems)
	if err != nil {
		return rep, db.wrap(OpCheck, err)
	}
	for rows.Next() {
		var id int64
		var want, have int
		if err := rows.Scan(&id, &want, &have); err != nil {
			rows.Close()
			return rep, db.wrap(OpCheck, err)
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf("run %d recorded %d partners but holds %d results", id, want, have))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, db.wrap(OpCheck, err)
	}
	if err := db.c().QueryRowContext(ctx, "SELECT count(*) FROM runs").Scan(&rep.Runs); err != nil {
		return rep, db.wrap(OpCheck, err)
	}
	if len(rep.Problems) > 0 {
		return rep, &Error{Op: OpCheck, Path: db.path, Err: fmt.Errorf("%w: %d problem(s) found, the first: %s", ErrCorrupt, len(rep.Problems), rep.Problems[0])}
	}
	return rep, nil
}
