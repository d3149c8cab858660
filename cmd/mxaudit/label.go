package main

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/history"
	"github.com/mxaudit/mxaudit/reports"
)

// labelReport is `report --run-label`: the shards of one audit put together,
// each vantage point into a folder of its own when there are several, and
// vantages.csv side by side. Nothing is rendered while a shard is missing.
func labelReport(c *cli.Context) error {
	db, err := openHistoryDB(c)
	if err != nil {
		return err
	}
	defer db.Close()
	st, vantages, err := labelVantages(c, db)
	if err != nil {
		return err
	}
	runs := make([]*runSource, len(vantages))
	for i, v := range vantages {
		if runs[i], err = labelSource(db, st, v); err != nil {
			return err
		}
	}
	if len(runs) == 1 {
		return render(c, c.String("out"), runs[0], nil)
	}
	return renderVantages(c, vantages, runs)
}

// labelVantages finds the run label --run-label names, says its shards on
// stderr, and returns its vantage points (the one --vantage names, if set).
func labelVantages(c *cli.Context, db *history.DB) (*history.LabelStatus, []string, error) {
	st, err := db.Label(c.String("run-label"))
	if errors.Is(err, history.ErrNoRun) {
		return nil, nil, cli.Exit(err.Error(), exitUsage)
	} else if err != nil {
		return nil, nil, cli.Exit(err.Error(), exitInternal)
	}
	vantages := st.Vantages()
	if c.IsSet("vantage") {
		if !slices.Contains(vantages, c.String("vantage")) {
			return nil, nil, cli.Exit(fmt.Sprintf("run label %s has no run from vantage %q (it has %s)", st.Label, c.String("vantage"), strings.Join(vantages, ", ")), exitUsage)
		}
		vantages = []string{c.String("vantage")}
	}
	if err := st.WriteText(c.App.ErrWriter); err != nil {
		return nil, nil, cli.Exit(err.Error(), exitInternal)
	}
	return st, vantages, nil
}

// labelSource is the run label st from vantage point v: its shards put
// together, read a partner at a time (db stays open while it is read).
func labelSource(db *history.DB, st *history.LabelStatus, v string) (*runSource, error) {
	head, err := db.LabelHead(st, v)
	if err != nil {
		return nil, labelError(err)
	}
	each := func(fn func(*audit.Result) error) error { return db.EachLabelResult(st, v, fn) }
	return &runSource{head: head, each: each, from: db.Path(), close: func() {}}, nil
}

// labelError maps a failure to put a run label together to its exit code:
// 1 while a shard is missing.
func labelError(err error) error {
	if errors.Is(err, history.ErrLabelIncomplete) {
		return cli.Exit(err.Error()+"; nothing rendered: run the missing shards with the same --run-label, then report again", exitFindings)
	}
	return cli.Exit(err.Error(), exitInternal)
}

// renderVantages writes each vantage point's reports into a folder named
// after it, each with the comparison of the vantage points (a workbook
// sheet, a PDF section), and vantages.csv beside them; the rows that
// differ go to stdout.
func renderVantages(c *cli.Context, vantages []string, runs []*runSource) error {
	rows, err := compareVantages(vantages, runs)
	if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	differ := reports.Differing(rows)
	cmp := &reports.Vantages{Names: vantages, Rows: differ, Same: len(rows) - len(differ)}
	out := c.String("out")
	for i, v := range vantages {
		if v == "" {
			v = reports.DefaultVantage
		}
		if err := render(c, filepath.Join(out, v), runs[i], cmp); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	if err := reports.WriteVantagesCSV(&b, vantages, rows); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	p := filepath.Join(out, reports.FileVantagesCSV)
	if err := audit.WriteFileAtomic(p, b.Bytes()); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	fmt.Fprintln(c.App.Writer, p)
	for _, r := range differ {
		fmt.Fprintf(c.App.Writer, "%s %s:%d: %s\n", r.Partner, r.Host, r.Port, r.Note)
	}
	return nil
}

// compareVantages reads each vantage point's run once, a partner at a time, into the comparison.
func compareVantages(vantages []string, runs []*runSource) ([]reports.VantageRow, error) {
	cmp := reports.NewVantageComparison(vantages)
	for v, src := range runs {
		if err := src.each(func(r *audit.Result) error { cmp.Add(v, r); return nil }); err != nil {
			return nil, err
		}
	}
	return cmp.Rows(), nil
}
