package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/pipeline"
)

// maxSummaryPartners caps the "needing action" list; results.json and the reports have them all.
const maxSummaryPartners = pipeline.NeedingActionCap

// summarize prints the short human summary of a run; quiet leaves out the
// list of partners needing action (cron).
func summarize(w io.Writer, run *pipeline.Run, resultsPath string, quiet bool) {
	res, t := run.Results, &run.Tally
	state := ""
	if res.Incomplete {
		state = " (INCOMPLETE: interrupted)"
	}
	fmt.Fprintf(w, "mxaudit: %d partners audited in %s%s\n", t.Partners, res.Finished.Sub(res.Started).Round(1e7), state)
	for _, g := range t.Delivery.Groups() {
		fmt.Fprintf(w, "  delivery:   %s\n", g)
	}
	var parts []string
	for _, v := range append(slices.Clone(audit.Order), audit.ValidWithFindings) {
		if n := t.Standings[string(v)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n))
		}
	}
	fmt.Fprintf(w, "  verdicts:   %s\n", strings.Join(parts, ", "))
	sev := t.Severities
	fmt.Fprintf(w, "  severities: critical %d, error %d, warning %d, info %d\n", sev[audit.Critical], sev[audit.Error], sev[audit.Warning], sev[audit.Info])
	runNotes(w, res)
	for _, pr := range res.PrivateRoots {
		switch pr.Status {
		case audit.RootExpired:
			fmt.Fprintf(w, "  private root %s (%s): EXPIRED on %s\n", pr.File, pr.Subject, pr.NotAfter.Format("2006-01-02"))
		case audit.RootExpiring:
			fmt.Fprintf(w, "  private root %s (%s): expires on %s, %d days left\n", pr.File, pr.Subject, pr.NotAfter.Format("2006-01-02"), pr.DaysLeft)
		}
	}
	if !quiet {
		needingAction(w, t)
	}
	fmt.Fprintf(w, "\nresults: %s\n", resultsPath)
}

// runNotes says what concerns the run as a whole: bad inventory rows, the
// run's notes (a family not tested from here), unreadable root files.
func runNotes(w io.Writer, res *audit.Results) {
	if n := len(res.InventoryErrors); n > 0 {
		fmt.Fprintf(w, "  inventory:  %d bad rows (see inventory_errors)\n", n)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "  note:       %s\n", n)
	}
	if n := len(res.TrustErrors); n > 0 {
		fmt.Fprintf(w, "  trust:      %d root files not read (see trust_errors): their partners may show PartialChain or UntrustedRoot\n", n)
	}
}

// needingAction lists the partners with a critical or error finding, at most maxSummaryPartners.
func needingAction(w io.Writer, t *pipeline.Tally) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header, n := false, 0
	for _, lvl := range []audit.Severity{audit.Critical, audit.Error} {
		for i := range t.NeedingAction[lvl] {
			r := &t.NeedingAction[lvl][i]
			if n++; n > maxSummaryPartners {
				break
			}
			if !header {
				fmt.Fprintln(w, "\nPartners needing action:")
				fmt.Fprintln(tw, "  SEVERITY\tPARTNER\tHOST\tVERDICTS")
				header = true
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", lvl, r.Name, where(r), joinVerdicts(r.Verdicts))
		}
	}
	tw.Flush()
	if all := t.Severities[audit.Critical] + t.Severities[audit.Error]; all > maxSummaryPartners {
		fmt.Fprintf(w, "  ... and %d more: see the results and reports\n", all-maxSummaryPartners)
	}
}

func joinVerdicts(vs []audit.Verdict) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
