package pipeline

import "github.com/mxaudit/mxaudit/audit"

// Run is what Scan gives back: the run's results without its partners
// (they streamed out to results.json, the reports and the history), what
// the partners add up to, and the partners themselves with Config.Hold.
type Run struct {
	*audit.Results
	Tally Tally
}

// NeedingActionCap is how many partners of each of the severities critical
// and error the tally keeps whole, for the summary a person reads at the
// end of a scan (the results and reports hold them all).
const NeedingActionCap = 50

// Tally counts a run's partners as they stream past, for the summary
// printed after a scan and the exit code.
type Tally struct {
	Partners   int
	Standings  map[string]int         // by audit.Result.Standing
	Severities map[audit.Severity]int // by worst severity
	Worst      audit.Severity         // the worst severity of any partner (info for none)
	Delivery   audit.DeliveryCounter
	// NeedingAction holds the first NeedingActionCap partners, in
	// inventory order, whose worst severity is critical, and those whose
	// worst is error; Severities says how many there are.
	NeedingAction map[audit.Severity][]audit.Result
}

func newTally() Tally {
	return Tally{Standings: map[string]int{}, Severities: map[audit.Severity]int{}, Worst: audit.Info,
		NeedingAction: map[audit.Severity][]audit.Result{}}
}

// add counts r.
func (t *Tally) add(r *audit.Result) {
	t.Partners++
	t.Standings[r.Standing()]++
	sev := r.WorstSeverity()
	t.Severities[sev]++
	if sev.Level() > t.Worst.Level() {
		t.Worst = sev
	}
	t.Delivery.Add(r)
	if (sev == audit.Critical || sev == audit.Error) && len(t.NeedingAction[sev]) < NeedingActionCap {
		t.NeedingAction[sev] = append(t.NeedingAction[sev], *r)
	}
}
