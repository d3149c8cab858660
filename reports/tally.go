package reports

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// maxListRows caps the rows of each PDF table that lists partners or their
// targets (a finding group, the published policies, a group of changes, the
// vantage points); the rest are counted and referred to the file that lists them all.
const maxListRows = 200

// maxFindingGroups caps the groups of findings (problem and remedy) the PDF
// shows per severity; the findings of further groups are counted.
const maxFindingGroups = 40

// tally is every figure the PDF report and the workbook's Summary show,
// taken in one pass over the partners: counters, and the capped lists the
// report prints. Its size does not grow with the number of partners.
type tally struct {
	partners   int
	standing   map[string]int         // partners by audit.Result.Standing
	worst      map[audit.Severity]int // partners by worst severity as the view tells it (worstTold)
	ownWorst   map[audit.Severity]int // partners by audit.Result.WorstSeverity: the detail sections' order
	findings   map[audit.Severity]int // findings by severity
	nFindings  int
	delivery   audit.DeliveryCounter // partners by policy source of our MTA (audit.DeliveryGroups)
	stopped    []string              // the first maxDeliveryLines partners whose mail does not flow, as the summary names them
	stoppedN   int                   // every partner whose mail does not flow
	policies   []policyLine
	policiesN  int // targets with published policies
	groups     []*findingGroup
	groupIdx   map[string]*findingGroup
	groupsLeft map[audit.Severity]int // findings at error or above in groups past maxFindingGroups
	missing    bool                   // some text has a character no loaded font covers (only when scanned)
	scanned    bool
}

// findingGroup is the critical or error findings of one problem and remedy:
// how many, and the first maxListRows of them.
type findingGroup struct {
	sev    audit.Severity
	issue  string
	remedy string
	n      int
	items  []groupItem
}

// groupItem is one row of a finding group's table.
type groupItem struct{ partner, domain, host, message string }

// policyLine is one row of the PDF's published policies table.
type policyLine struct{ partner, mx, dnssec, dane, mtasts, tlsrpt, types string }

func newTally() *tally {
	return &tally{standing: map[string]int{}, worst: map[audit.Severity]int{}, ownWorst: map[audit.Severity]int{},
		findings: map[audit.Severity]int{}, groupIdx: map[string]*findingGroup{}, groupsLeft: map[audit.Severity]int{}}
}

// deliverySummary says, per policy source, where mail stops today and would
// stop under the what-if policy; "" without an MTA policy.
func (t *tally) deliverySummary() string { return deliverySummaryOf(t.delivery.Groups()) }

// failingOwn counts the partners at warning or above by their own worst
// severity (audit.Result.WorstSeverity): the PDF's figure and its detail sections.
func (t *tally) failingOwn() int { return atWarning(t.ownWorst) }

// failingTold counts the partners at warning or above by their worst
// severity as the view tells it (worstTold): the workbook's figure.
func (t *tally) failingTold() int { return atWarning(t.worst) }

// atWarning sums the partners of bySev whose severity is a problem.
func atWarning(bySev map[audit.Severity]int) int {
	n := 0
	for s, k := range bySev {
		if problem(s) {
			n += k
		}
	}
	return n
}

// tallyPartners makes the view's tally in one pass over partners; missing,
// when not nil, reports whether a partner has text no font can show; each,
// when not nil, is given every partner and its findings as the view tells
// them, for what only one writer gathers in the same pass.
func (v *view) tallyPartners(partners iter.Seq[*audit.Result], missing func(*audit.Result) bool, each func(*audit.Result, []Finding)) (*tally, error) {
	t := newTally()
	t.scanned = missing != nil
	var fs []Finding
	i := 0
	for r := range partners {
		var err error
		if fs, err = v.appendFindings(fs[:0], i, r); err != nil {
			return nil, err
		}
		t.add(v, r, fs)
		if each != nil {
			each(r, fs)
		}
		if missing != nil && !t.missing {
			t.missing = missing(r)
		}
		i++
	}
	slices.SortStableFunc(t.groups, func(a, b *findingGroup) int {
		return cmp.Or(b.sev.Level()-a.sev.Level(), b.n-a.n, strings.Compare(a.issue, b.issue))
	})
	return t, nil
}

// add counts partner r with its findings fs.
func (t *tally) add(v *view, r *audit.Result, fs []Finding) {
	t.partners++
	t.standing[r.Standing()]++
	t.ownWorst[r.WorstSeverity()]++
	t.worst[v.worstTold(r, fs)]++
	for _, f := range fs {
		t.findings[f.Severity]++
		t.nFindings++
		if f.Severity.Level() >= audit.Error.Level() {
			t.group(r, f)
		}
	}
	t.addDelivery(r)
	t.addPolicies(r)
}

// group counts finding f of partner r in its group, keeping its row while the group has fewer than maxListRows.
func (t *tally) group(r *audit.Result, f Finding) {
	key := string(f.Severity) + "\x00" + f.Issue + "\x00" + f.Remedy
	g := t.groupIdx[key]
	if g == nil {
		if t.groupsOf(f.Severity) >= maxFindingGroups {
			t.groupsLeft[f.Severity]++
			return
		}
		g = &findingGroup{sev: f.Severity, issue: f.Issue, remedy: f.Remedy}
		t.groupIdx[key] = g
		t.groups = append(t.groups, g)
	}
	g.n++
	if len(g.items) < maxListRows {
		g.items = append(g.items, groupItem{r.Name, r.Domain, hostPort(r), f.Message})
	}
}

// groupsOf counts the finding groups kept at severity s.
func (t *tally) groupsOf(s audit.Severity) int {
	n := 0
	for _, g := range t.groups {
		if g.sev == s {
			n++
		}
	}
	return n
}

// addDelivery counts r's delivery in its policy source's group and names r when its mail does not flow.
func (t *tally) addDelivery(r *audit.Result) {
	d := r.Delivery
	if d == nil {
		return
	}
	t.delivery.Add(r)
	if audit.Flows(d.Outcome) {
		return
	}
	t.stoppedN++
	if len(t.stopped) < maxDeliveryLines {
		t.stopped = append(t.stopped, fmt.Sprintf("%s: %s. %s", r.Name, d.Outcome, d.Rule))
	}
}

// addPolicies counts r's targets with published policies, keeping the first maxListRows rows.
func (t *tally) addPolicies(r *audit.Result) {
	for k := range r.Targets {
		tg := &r.Targets[k]
		if tg.Policies == nil {
			continue
		}
		if t.policiesN++; len(t.policies) >= maxListRows {
			continue
		}
		p := tg.Policies
		sts := p.MTASTS
		if p.MTASTSID != "" {
			sts += " (id " + p.MTASTSID + ")"
		}
		t.policies = append(t.policies, policyLine{r.Name, tg.MX, p.DNSSEC, p.DANE, sts, p.TLSRPT, resultTypes(tg.Verdicts, tg.ResultTypes)})
	}
}

// detailQuota returns how many partners of each worst severity (critical,
// error, warning) get a detail section under the view's cap, most severe
// first, and how many partners with a problem are left out.
func (t *tally) detailQuota(limit int) (quota map[audit.Severity]int, more int) {
	quota = map[audit.Severity]int{}
	left := limit
	for _, s := range severities {
		n := t.ownWorst[s]
		if s.Level() < audit.Warning.Level() || n == 0 {
			continue
		}
		if limit >= 0 {
			n = min(n, left)
			left -= n
		}
		quota[s] = n
	}
	return quota, t.failingOwn() - sumQuota(quota)
}

func sumQuota(q map[audit.Severity]int) int {
	n := 0
	for _, k := range q {
		n += k
	}
	return n
}
