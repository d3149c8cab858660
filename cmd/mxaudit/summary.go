package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/mxaudit/mxaudit/audit"
)

// maxSummaryPartners caps the "needing action" list; results.json and the reports have them all.
const maxSummaryPartners = 50

// summarize prints the short human summary of a run; quiet leaves out the
// list of partners needing action (cron).
func summarize(w io.Writer, res *audit.Results, resultsPath string, quiet bool) {
	counts := map[string]int{} // by standing: "Valid" agrees with "info"
	sev := map[audit.Severity]int{}
	for i := range res.Partners {
		r := &res.Partners[i]
		counts[r.Standing()]++
		sev[r.WorstSeverity()]++
	}
	state := ""
	if res.Incomplete {
		state = " (INCOMPLETE: interrupted)"
	}
	fmt.Fprintf(w, "mxaudit: %d partners audited in %s%s\n", len(res.Partners), res.Finished.Sub(res.Started).Round(1e7), state)
	for _, g := range audit.DeliveryGroups(res.Partners) {
		fmt.Fprintf(w, "  delivery:   %s\n", g)
	}
	var parts []string
	for _, v := range append(slices.Clone(audit.Order), audit.ValidWithFindings) {
		if n := counts[string(v)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", v, n))
		}
	}
	fmt.Fprintf(w, "  verdicts:   %s\n", strings.Join(parts, ", "))
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
		needingAction(w, res)
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
func needingAction(w io.Writer, res *audit.Results) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header, n := false, 0
	for _, lvl := range []audit.Severity{audit.Critical, audit.Error} {
		for i := range res.Partners {
			r := &res.Partners[i]
			if r.WorstSeverity() != lvl {
				continue
			}
			if n++; n > maxSummaryPartners {
				continue
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
	if n > maxSummaryPartners {
		fmt.Fprintf(w, "  ... and %d more: see the results and reports\n", n-maxSummaryPartners)
	}
}

func joinVerdicts(vs []audit.Verdict) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
