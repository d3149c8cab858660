package history

import (
	"fmt"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Change kinds, the values of audit.Change.Kind (audit.ChangeKinds is their
// one list; the package documentation describes each).
const (
	PartnerAdded      = audit.ChangePartnerAdded
	PartnerRemoved    = audit.ChangePartnerRemoved
	CertReplaced      = audit.ChangeCertReplaced
	IssuerChanged     = audit.ChangeIssuerChanged
	SubjectChanged    = audit.ChangeSubjectChanged
	KeyChanged        = audit.ChangeKeyChanged
	RootSourceChanged = audit.ChangeRootSourceChanged
	VerdictWorse      = audit.ChangeVerdictWorse
	VerdictRecovered  = audit.ChangeVerdictRecovered
	ExpiryThreshold   = audit.ChangeExpiryThreshold
)

// expiryLevel returns how many of marks (audit.Thresholds.ExpiryMarks) days has reached.
func expiryLevel(marks []int, days int) int {
	n := 0
	for _, t := range marks {
		if days <= t && (t > 0 || days < 0) {
			n++
		}
	}
	return n
}

// crossed returns the most severe of marks that days reached while before
// had not, and whether there is one.
func crossed(marks []int, before, days int) (int, bool) {
	lb, la := expiryLevel(marks, before), expiryLevel(marks, days)
	if la <= lb {
		return 0, false
	}
	return marks[la-1], true
}

// leafInfo is what change detection needs of a leaf certificate.
type leafInfo struct {
	SHA256   string
	Subject  string
	Issuer   string
	KeySHA   string
	NotAfter time.Time
}

// state is one partner row's result reduced to what change detection
// compares, with the run it was recorded in.
type state struct {
	Partner    string
	Target     string // targetOf the row: what it audits
	Host       string
	Port       int
	Verdict    audit.Verdict
	RootSource string
	Leaf       *leafInfo
	RunID      int64     // the run the state comes from
	Started    time.Time // that run's clock
}

// key identifies an inventory row across runs: the partner and what it audits.
func (s *state) key() string { return s.Partner + "\x00" + s.Target }

// targetOf says what a partner row audits: host:port, and the address
// connected to instead of resolving the host. Migration 3 computes the same
// string in SQL for the rows recorded before it.
func targetOf(p audit.Partner) string {
	t := fmt.Sprintf("%s:%d", p.Host, p.Port)
	if p.Address != "" {
		t += " via " + p.Address
	}
	return t
}

// snapshot is one run reduced to its partners' states, in inventory order.
type snapshot struct {
	RunID   int64
	Started time.Time
	States  []state
	Marks   []int // the run's expiry marks (audit.Thresholds.ExpiryMarks); nil means the defaults
}

// rootSourceName says what a Root.Source means to an admin.
func rootSourceName(s string) string {
	switch s {
	case audit.RootSystem:
		return "public CA"
	case audit.RootPrivate:
		return "private CA"
	case audit.RootNone, "":
		return "no trusted root"
	}
	return s
}

func shortSHA(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func describeLeaf(l *leafInfo) string {
	return fmt.Sprintf("%s (SHA-256 %s, expires %s)", l.Subject, shortSHA(l.SHA256), l.NotAfter.UTC().Format("2006-01-02"))
}

// diffSnapshots returns the changes from run prev to run cur, both taken
// whole (as "mxaudit diff" compares two runs): see diff.
func diffSnapshots(prev, cur *snapshot) []audit.Change {
	before := make(map[string]*state, len(prev.States))
	for i := range prev.States {
		if k := prev.States[i].key(); before[k] == nil {
			before[k] = &prev.States[i]
		}
	}
	return diff(cur, before, prev)
}

// diff returns the changes of cur, row by row in cur's order (rows are
// keyed by partner and target, so two MX hosts of one partner are two
// rows), each row's changes in the order of Kinds, then the removed rows in
// base's order. Each row is compared with before[key], the state of the
// last run that audited it; a row before does not hold is partner_added
// (since base); a row of base that cur does not hold is partner_removed.
// Rows not probed (NotProbed) on either side are not compared.
func diff(cur *snapshot, before map[string]*state, base *snapshot) []audit.Change {
	seen := make(map[string]bool, len(cur.States))
	marks := cur.Marks
	if marks == nil {
		marks = audit.DefaultThresholds().ExpiryMarks()
	}
	var out []audit.Change
	for i := range cur.States {
		c := &cur.States[i]
		k := c.key()
		if seen[k] {
			continue // the inventory rejects exact duplicates; be safe
		}
		seen[k] = true
		p, ok := before[k]
		if !ok {
			out = append(out, audit.Change{Partner: c.Partner, Target: c.Target, Kind: PartnerAdded, After: fmt.Sprintf("%s:%d", c.Host, c.Port), SinceRun: base.RunID})
			continue
		}
		out = append(out, compare(p, c, marks)...)
	}
	for i := range base.States {
		p := &base.States[i]
		k := p.key()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, audit.Change{Partner: p.Partner, Target: p.Target, Kind: PartnerRemoved, Before: fmt.Sprintf("%s:%d", p.Host, p.Port), SinceRun: base.RunID})
	}
	return out
}

// compare returns the changes of one row from state p to state c; marks
// are the expiry marks of c's run.
func compare(p, c *state, marks []int) []audit.Change {
	var out []audit.Change
	add := func(kind, b, a string) {
		out = append(out, audit.Change{Partner: c.Partner, Target: c.Target, Kind: kind, Before: b, After: a, SinceRun: p.RunID})
	}
	if p.Verdict == audit.NotProbed || c.Verdict == audit.NotProbed {
		return nil
	}
	switch pr, cr := p.Verdict.Rank(), c.Verdict.Rank(); {
	case cr < pr:
		add(VerdictWorse, string(p.Verdict), string(c.Verdict))
	case cr > pr:
		add(VerdictRecovered, string(p.Verdict), string(c.Verdict))
	}
	if p.Leaf == nil || c.Leaf == nil {
		return out
	}
	pl, cl := p.Leaf, c.Leaf
	if pl.SHA256 != cl.SHA256 {
		add(CertReplaced, describeLeaf(pl), describeLeaf(cl))
	}
	if pl.Issuer != cl.Issuer {
		add(IssuerChanged, pl.Issuer, cl.Issuer)
	}
	if pl.Subject != cl.Subject {
		add(SubjectChanged, pl.Subject, cl.Subject)
	}
	if pl.KeySHA != cl.KeySHA {
		add(KeyChanged, shortSHA(pl.KeySHA), shortSHA(cl.KeySHA))
	}
	if p.RootSource != c.RootSource {
		add(RootSourceChanged, rootSourceName(p.RootSource), rootSourceName(c.RootSource))
	}
	bd := audit.DaysLeft(pl.NotAfter, p.Started)
	cd := audit.DaysLeft(cl.NotAfter, c.Started)
	if t, ok := crossed(marks, bd, cd); ok {
		after := audit.DaysWords(cd)
		if t > 0 {
			after += fmt.Sprintf(" (<= %d)", t)
		}
		add(ExpiryThreshold, audit.DaysWords(bd), after)
	}
	return out
}
