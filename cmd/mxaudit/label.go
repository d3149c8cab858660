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
	st, err := db.Label(c.String("run-label"))
	if errors.Is(err, history.ErrNoRun) {
		return cli.Exit(err.Error(), exitUsage)
	} else if err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	vantages := st.Vantages()
	if c.IsSet("vantage") {
		if !slices.Contains(vantages, c.String("vantage")) {
			return cli.Exit(fmt.Sprintf("run label %s has no run from vantage %q (it has %s)", st.Label, c.String("vantage"), strings.Join(vantages, ", ")), exitUsage)
		}
		vantages = []string{c.String("vantage")}
	}
	if err := st.WriteText(c.App.ErrWriter); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	runs := make([]*audit.Results, len(vantages))
	for i, v := range vantages {
		if runs[i], err = db.LabelResults(st, v); err != nil {
			return labelError(err)
		}
	}
	if len(runs) == 1 {
		return render(c, c.String("out"), runs[0])
	}
	return renderVantages(c, vantages, runs)
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
// after it, and vantages.csv beside them; the rows that differ go to stdout.
func renderVantages(c *cli.Context, vantages []string, runs []*audit.Results) error {
	out := c.String("out")
	for i, v := range vantages {
		if v == "" {
			v = reports.DefaultVantage
		}
		if err := render(c, filepath.Join(out, v), runs[i]); err != nil {
			return err
		}
	}
	rows := reports.CompareVantages(vantages, runs)
	var b bytes.Buffer
	if err := reports.WriteVantagesCSV(&b, vantages, rows); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	p := filepath.Join(out, reports.FileVantagesCSV)
	if err := audit.WriteFileAtomic(p, b.Bytes()); err != nil {
		return cli.Exit(err.Error(), exitInternal)
	}
	fmt.Fprintln(c.App.Writer, p)
	for _, r := range reports.Differing(rows) {
		fmt.Fprintf(c.App.Writer, "%s %s:%d: %s\n", r.Partner, r.Host, r.Port, r.Note)
	}
	return nil
}
