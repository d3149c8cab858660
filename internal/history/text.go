package history

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// WriteRuns writes runs as a plain-text table for "mxaudit history"; the
// vantage point, run label and shard columns only when a run has one.
func WriteRuns(w io.Writer, runs []Run) error {
	scoped := false
	for _, r := range runs {
		scoped = scoped || r.Vantage != "" || r.Label != "" || r.Shard != ""
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprint(tw, "RUN\tSTARTED (UTC)\tDURATION\tSTATUS\tPARTNERS\tFAILING\tCHANGES\t")
	if scoped {
		fmt.Fprint(tw, "VANTAGE\tLABEL\tSHARD\t")
	}
	fmt.Fprintln(tw, "INVENTORY")
	for _, r := range runs {
		dur := "-"
		if !r.Finished.IsZero() {
			dur = r.Finished.Sub(r.Started).Round(100 * time.Millisecond).String()
		}
		status := r.Status
		if r.Incomplete {
			status += " (partial)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t", r.ID, r.Started.UTC().Format("2006-01-02 15:04:05"),
			dur, status, r.Partners, r.Failing, r.Changes)
		if scoped {
			fmt.Fprintf(tw, "%s\t%s\t%s\t", orDash(r.Vantage), orDash(r.Label), orDash(r.Shard))
		}
		fmt.Fprintln(tw, r.Inventory)
	}
	return tw.Flush()
}

// WriteChanges writes changes as a plain-text table for "mxaudit diff".
func WriteChanges(w io.Writer, a, b int64, changes []audit.Change) error {
	if len(changes) == 0 {
		_, err := fmt.Fprintf(w, "No changes from run %d to run %d.\n", a, b)
		return err
	}
	fmt.Fprintf(w, "Changes from run %d to run %d:\n\n", a, b)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tCHANGE\tBEFORE\tAFTER")
	for _, c := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Partner, c.Kind, orDash(c.Before), orDash(c.After))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
