package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// results assembles one result per partner from its rows; interrupted says
// the run stopped before every target was probed.
func (r *runner) results(interrupted bool) *audit.Results {
	th := r.opts.Thresholds
	res := &audit.Results{
		Thresholds:      &th,
		Schema:          audit.SchemaVersion,
		Started:         r.opts.Now.UTC(),
		Partners:        make([]audit.Result, len(r.first)),
		PrivateRoots:    []audit.PrivateRoot{},
		InventoryErrors: []audit.InventoryError{},
	}
	r.shareProbes()
	untested := map[string]int{}
	for i := range r.first {
		res.Partners[i] = r.partner(i)
		for _, w := range r.rowsOf(i) {
			if !w.done {
				interrupted = true
			}
			for f, n := range w.untested {
				untested[f] += n
			}
		}
	}
	res.Incomplete = interrupted
	res.Notes = r.notes(untested)
	res.PrivateRoots = audit.Lifecycle(r.opts.PrivateRoots, res.Partners, audit.UsedByChain, r.opts.Now, th)
	res.Finished = time.Now().UTC()
	return res
}

// notes says once for the run which address families were not tested from
// here, and how many partner addresses that left out.
func (r *runner) notes(untested map[string]int) []string {
	if r.opts.Reach == nil {
		return nil
	}
	var out []string
	for _, f := range r.opts.Reach.Untested() {
		if untested[f] == 0 {
			continue // no partner has an address of that family: nothing to say
		}
		out = append(out, fmt.Sprintf("%s not tested from here: this machine has no route to %s addresses (%d partner addresses skipped; they are no failure of the partners)", f, f, untested[f]))
	}
	return out
}

// partner assembles partner i: its rows' targets (the worst decides), or,
// when none could be found, the verdict of its DNS.
func (r *runner) partner(i int) audit.Result {
	rows := r.rowsOf(i)
	res := audit.Result{Partner: r.partnerRow(i), Root: audit.Root{Store: audit.RootNone}, Chain: []audit.Cert{}, Findings: []audit.Finding{}}
	var contacts []string
	for _, w := range rows {
		res.Enforced = res.Enforced || w.p.Enforced
		for _, c := range audit.SplitContacts(w.p.Contact) {
			if c = strings.TrimSpace(c); c != "" && !slices.Contains(contacts, c) {
				contacts = append(contacts, c)
			}
		}
		for _, f := range w.findings {
			if !slices.Contains(res.Findings, f) {
				res.Findings = append(res.Findings, f)
			}
		}
		res.NotTested = append(res.NotTested, w.notTested...)
	}
	res.Contact = strings.Join(contacts, ", ")

	var targets []audit.TargetResult
	var failed []*row // rows that found nothing to probe
	seen := map[string]bool{}
	undiscovered := false
	for _, w := range rows {
		switch {
		case !w.done:
			undiscovered = true
		case len(w.cands) == 0 && w.verdict != "":
			failed = append(failed, w)
		}
		for k := range w.cands {
			t := w.targets[k]
			if t.Verdict == "" {
				t = notProbedTarget(w, k)
			}
			if key := t.Key(); !seen[key] {
				seen[key] = true
				targets = append(targets, t)
			}
		}
	}
	switch {
	case len(targets) > 0:
		// A row of the partner that gave no address is a target without
		// one, so that its DNSError stays in sight.
		for _, w := range failed {
			targets = append(targets, failedTarget(w))
		}
		res.SetTargets(targets)
	case len(failed) > 0:
		worst := failed[0]
		for _, w := range failed[1:] {
			if w.verdict.Rank() < worst.verdict.Rank() {
				worst = w
			}
		}
		res.Host, res.Port, res.TLS = worst.p.Host, worst.p.Port, worst.p.TLS
		res.Verdicts = []audit.Verdict{worst.verdict}
		res.Details = map[audit.Verdict]string{worst.verdict: worst.why}
		res.Error = worst.why
		for _, w := range failed {
			if w != worst && w.verdict != worst.verdict {
				res.Verdicts = append(res.Verdicts, w.verdict)
				res.Details[w.verdict] = w.why
			}
		}
		finish(&res)
	case undiscovered:
		res.Verdicts = []audit.Verdict{audit.NotProbed}
		res.Error = "not probed: the run was interrupted"
		finish(&res)
	case len(res.NotTested) > 0:
		res.Verdicts = []audit.Verdict{audit.NotProbed}
		res.Details = map[audit.Verdict]string{audit.NotProbed: "every address is of a family this machine cannot reach: " + strings.Join(res.NotTested, ", ")}
		res.Error = "not tested from here: no route to its addresses"
		finish(&res)
	default:
		res.Verdicts = []audit.Verdict{audit.DNSError}
		res.Details = map[audit.Verdict]string{audit.DNSError: "no address to probe"}
		res.Error = "no address to probe"
		finish(&res)
	}
	return res
}

// notProbedTarget is target k of row w when the run was interrupted before its probe.
func notProbedTarget(w *row, k int) audit.TargetResult {
	c := w.cands[k]
	return audit.TargetResult{Line: w.p.Line, MX: c.t.Host, Preference: c.pref, Found: c.found, Address: c.t.Address,
		Port: c.t.Port, Family: audit.FamilyOf(c.t.Address), TLS: c.t.TLS, DNSSEC: c.dnssec,
		Verdict: audit.NotProbed, Verdicts: []audit.Verdict{audit.NotProbed}, Remedy: audit.NotProbed.Remedy(),
		Root: audit.Root{Store: audit.RootNone}, Chain: []audit.Cert{}, Error: "not probed: the run was interrupted"}
}

// failedTarget is a row that found no address, among the targets of a partner that has others.
func failedTarget(w *row) audit.TargetResult {
	name, found := w.p.Host, audit.FoundHost
	if name == "" {
		name, found = w.p.Domain, audit.FoundMX
	}
	return audit.TargetResult{Line: w.p.Line, MX: name, Found: found, Port: w.p.Port, TLS: w.p.TLS,
		Verdict: w.verdict, Verdicts: []audit.Verdict{w.verdict}, Details: map[audit.Verdict]string{w.verdict: w.why},
		Remedy: w.verdict.Remedy(), Root: audit.Root{Store: audit.RootNone}, Chain: []audit.Cert{}, Error: w.why}
}
