package history

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Change kinds, the values of audit.Change.Kind (audit.ChangeKinds is their
// one list; the package documentation describes each).
const (
	PartnerAdded     = audit.ChangePartnerAdded
	PartnerRemoved   = audit.ChangePartnerRemoved
	MXAdded          = audit.ChangeMXAdded
	MXRemoved        = audit.ChangeMXRemoved
	AddressAdded     = audit.ChangeAddressAdded
	AddressRemoved   = audit.ChangeAddressRemoved
	CertReplaced     = audit.ChangeCertReplaced
	IssuerChanged    = audit.ChangeIssuerChanged
	SubjectChanged   = audit.ChangeSubjectChanged
	KeyChanged       = audit.ChangeKeyChanged
	RootStoreChanged = audit.ChangeRootStoreChanged
	VerdictWorse     = audit.ChangeVerdictWorse
	VerdictRecovered = audit.ChangeVerdictRecovered
	ExpiryThreshold  = audit.ChangeExpiryThreshold
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

// state is one target of a partner in one run (one inventory row, for a
// run recorded before targets), reduced to what change detection compares.
type state struct {
	Partner   string
	Target    string // stateKey: what it audits
	MX        string // the host name
	Address   string // the address, "" for a row recorded without one
	Port      int
	Verdict   audit.Verdict
	RootStore string
	Leaf      *leafInfo
	RunID     int64     // the run the state comes from
	Started   time.Time // that run's clock
}

// key identifies a target across runs: the partner and what it audits.
func (s *state) key() string { return s.Partner + "\x00" + s.Target }

// hostKey is the key a row recorded before targets (no address: the host
// resolved at probe time) gave the same MX host.
func (s *state) hostKey() string { return s.Partner + "\x00" + stateKey(s.MX, s.Port, "") }

// partnerState is one partner in one run: its verdict, and its targets
// (none when its DNS failed or its domain takes no mail).
type partnerState struct {
	Name    string
	Domain  string
	Verdict audit.Verdict
	Targets []*state
	RunID   int64
	Started time.Time
}

// describe names what a partner audits, for partner_added and partner_removed.
func (p *partnerState) describe() string {
	var out []string
	for _, t := range p.Targets {
		if s := fmt.Sprintf("%s:%d", t.MX, t.Port); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return p.Domain
	}
	return strings.Join(out, ", ")
}

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

// stateKey is the key of a target: audit.TargetKey, with an address whose
// port is the service port itself written without it (as the pipeline
// writes a target's address), so rows recorded before targets keep their key.
func stateKey(host string, port int, address string) string {
	if h, p, err := net.SplitHostPort(address); err == nil && p == strconv.Itoa(port) {
		address = h
	}
	return audit.TargetKey(host, port, address)
}

// snapshot is one run reduced to its partners and their targets' states, in results order.
type snapshot struct {
	RunID    int64
	Started  time.Time
	States   []state
	Partners []partnerState
	Marks    []int // the run's expiry marks (audit.Thresholds.ExpiryMarks); nil means the defaults
}

// newSnapshot groups states into partners by name, in order; a partner's
// verdict is its worst target's.
func newSnapshot(runID int64, started time.Time, states []state) *snapshot {
	var b snapshotBuilder
	for _, st := range states {
		b.add(st.Partner, "", st.Verdict, st)
	}
	return b.snapshot(runID, started)
}

// snapshotBuilder collects a run's partners in results order; results of
// one name (rows recorded before targets) make one partner.
type snapshotBuilder struct {
	states []state
	parts  []partnerState
	idx    [][]int // each partner's states
	at     map[string]int
}

// add adds a result of partner name with verdict and the states of its targets.
func (b *snapshotBuilder) add(name, domain string, verdict audit.Verdict, states ...state) {
	if b.at == nil {
		b.at = map[string]int{}
	}
	k, ok := b.at[name]
	if !ok {
		k = len(b.parts)
		b.at[name] = k
		b.parts = append(b.parts, partnerState{Name: name, Domain: domain, Verdict: verdict})
		b.idx = append(b.idx, nil)
	}
	p := &b.parts[k]
	if verdict.Rank() < p.Verdict.Rank() {
		p.Verdict = verdict
	}
	for _, st := range states {
		b.idx[k] = append(b.idx[k], len(b.states))
		b.states = append(b.states, st)
	}
}

func (b *snapshotBuilder) snapshot(runID int64, started time.Time) *snapshot {
	s := &snapshot{RunID: runID, Started: started, States: b.states, Partners: b.parts}
	for i := range s.States {
		s.States[i].RunID, s.States[i].Started = runID, started
	}
	for k := range s.Partners {
		s.Partners[k].RunID, s.Partners[k].Started = runID, started
		for _, i := range b.idx[k] {
			s.Partners[k].Targets = append(s.Partners[k].Targets, &s.States[i])
		}
	}
	return s
}

// audited counts the partners of s that were probed.
func (s *snapshot) audited() int {
	n := 0
	for i := range s.Partners {
		if s.Partners[i].Verdict != audit.NotProbed {
			n++
		}
	}
	return n
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
	beforeP := make(map[string]*partnerState, len(prev.Partners))
	for i := range prev.Partners {
		if p := &prev.Partners[i]; beforeP[p.Name] == nil && p.Verdict != audit.NotProbed {
			beforeP[p.Name] = p
		}
	}
	beforeT := make(map[string]*state, len(prev.States))
	for i := range prev.States {
		if st := &prev.States[i]; beforeT[st.key()] == nil && st.Verdict != audit.NotProbed {
			beforeT[st.key()] = st
		}
	}
	return diff(cur, beforeP, beforeT, prev)
}

// diff returns the changes of cur, partner by partner in cur's order, then
// the removed partners in base's order. Each partner is compared with
// beforeP[name], its state in the last run that audited it: a partner
// before does not hold is partner_added (since base); a partner of base
// that cur does not hold is partner_removed. Its targets are compared one
// by one with beforeT (the last run that audited each): a target of an MX
// host the partner did not have is mx_added, another address of a known
// MX host address_added, and the reverse mx_removed and address_removed.
// Partners and targets not probed (NotProbed) are not compared. Expiry is
// measured against the marks of cur's run.
func diff(cur *snapshot, beforeP map[string]*partnerState, beforeT map[string]*state, base *snapshot) []audit.Change {
	seen := make(map[string]bool, len(cur.Partners))
	marks := cur.Marks
	if marks == nil {
		marks = audit.DefaultThresholds().ExpiryMarks()
	}
	var out []audit.Change
	for i := range cur.Partners {
		c := &cur.Partners[i]
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		p := beforeP[c.Name]
		if p == nil {
			if c.Verdict != audit.NotProbed { // told once it is probed
				out = append(out, audit.Change{Partner: c.Name, Kind: PartnerAdded, After: c.describe(), SinceRun: base.RunID})
			}
			continue
		}
		out = append(out, comparePartner(p, c, beforeT, marks)...)
	}
	for i := range base.Partners {
		p := &base.Partners[i]
		if seen[p.Name] {
			continue
		}
		seen[p.Name] = true
		out = append(out, audit.Change{Partner: p.Name, Kind: PartnerRemoved, Before: p.describe(), SinceRun: base.RunID})
	}
	return out
}

// comparePartner returns the changes of partner c since its state p; marks
// are the expiry marks of c's run.
func comparePartner(p, c *partnerState, beforeT map[string]*state, marks []int) []audit.Change {
	if c.Verdict == audit.NotProbed {
		return nil
	}
	if len(p.Targets) == 0 || len(c.Targets) == 0 {
		// Its DNS failed (or its domain takes no mail) on one side: the
		// partner's verdict changed, not its MX hosts.
		return verdictChange(p.Verdict, c.Verdict, c.Name, "", p.RunID)
	}
	prevMX, curMX := map[string]bool{}, map[string]bool{}
	for _, t := range p.Targets {
		prevMX[t.MX] = true
	}
	for _, t := range c.Targets {
		curMX[t.MX] = true
	}
	var out []audit.Change
	matched := map[string]bool{}  // keys of earlier states compared
	reported := map[string]bool{} // MX hosts reported added
	var perTarget []audit.Change
	for _, t := range c.Targets {
		matched[t.key()] = true
		if t.Verdict == audit.NotProbed {
			continue
		}
		pt := beforeT[t.key()]
		if h := beforeT[t.hostKey()]; pt == nil && h != nil && h.Address == "" {
			pt = h // the row was recorded before targets: its host, at whatever address it resolved to
		}
		switch {
		case pt != nil:
			matched[pt.key()] = true
			perTarget = append(perTarget, compare(pt, t, marks)...)
		case !prevMX[t.MX] && !reported[t.MX]:
			reported[t.MX] = true
			out = append(out, audit.Change{Partner: c.Name, Target: fmt.Sprintf("%s:%d", t.MX, t.Port), Kind: MXAdded,
				After: addressesOf(c.Targets, t.MX), SinceRun: p.RunID})
		case prevMX[t.MX]:
			out = append(out, audit.Change{Partner: c.Name, Target: t.Target, Kind: AddressAdded, After: t.Address, SinceRun: p.RunID})
		}
	}
	reported = map[string]bool{}
	for _, t := range p.Targets {
		switch {
		case matched[t.key()]:
		case t.Address == "" && curMX[t.MX]: // a row recorded before targets, audited now by address
		case !curMX[t.MX] && !reported[t.MX]:
			reported[t.MX] = true
			out = append(out, audit.Change{Partner: c.Name, Target: fmt.Sprintf("%s:%d", t.MX, t.Port), Kind: MXRemoved,
				Before: addressesOf(p.Targets, t.MX), SinceRun: p.RunID})
		case curMX[t.MX] && t.Address != "":
			out = append(out, audit.Change{Partner: c.Name, Target: t.Target, Kind: AddressRemoved, Before: t.Address, SinceRun: p.RunID})
		}
	}
	perTarget = collapse(perTarget, c)
	// A partner whose worst verdict changed only through targets that came
	// or went still says so once.
	if !slices.ContainsFunc(perTarget, func(ch audit.Change) bool { return ch.Kind == VerdictWorse || ch.Kind == VerdictRecovered }) {
		perTarget = append(verdictChange(p.Verdict, c.Verdict, c.Name, "", p.RunID), perTarget...)
	}
	out = append(out, perTarget...)
	slices.SortStableFunc(out, func(a, b audit.Change) int { return kindRank(a.Kind) - kindRank(b.Kind) })
	return out
}

// verdictChange is verdict_worse or verdict_recovered from p to c, or nothing.
func verdictChange(p, c audit.Verdict, partner, target string, since int64) []audit.Change {
	switch pr, cr := p.Rank(), c.Rank(); {
	case cr < pr:
		return []audit.Change{{Partner: partner, Target: target, Kind: VerdictWorse, Before: string(p), After: string(c), SinceRun: since}}
	case cr > pr:
		return []audit.Change{{Partner: partner, Target: target, Kind: VerdictRecovered, Before: string(p), After: string(c), SinceRun: since}}
	}
	return nil
}

// addressesOf lists the addresses of the targets of one MX host.
func addressesOf(ts []*state, mx string) string {
	var out []string
	for _, t := range ts {
		if t.MX == mx && t.Address != "" && !slices.Contains(out, t.Address) {
			out = append(out, t.Address)
		}
	}
	return strings.Join(out, ", ")
}

// collapse merges the same change (kind, before and after) seen on several
// targets of partner c into one naming them all: a renewal on every
// address is one cert_replaced, while a certificate that changed on one
// address only says which. All addresses of an MX host are named by the
// host ("mx1.example:25").
func collapse(cs []audit.Change, c *partnerState) []audit.Change {
	type group struct {
		first   int
		targets []string
	}
	idx := map[string]*group{}
	var order []string
	for i, ch := range cs {
		k := ch.Kind + "\x00" + ch.Before + "\x00" + ch.After
		g, ok := idx[k]
		if !ok {
			g = &group{first: i}
			idx[k] = g
			order = append(order, k)
		}
		g.targets = append(g.targets, ch.Target)
	}
	out := make([]audit.Change, 0, len(order))
	for _, k := range order {
		g := idx[k]
		ch := cs[g.first]
		if len(g.targets) > 1 {
			ch.Target = targetsLabel(g.targets, c)
		}
		out = append(out, ch)
	}
	return out
}

// targetsLabel names the targets in keys: an MX host whose every target
// is among them by its name and port, the others by their keys.
func targetsLabel(keys []string, c *partnerState) string {
	var out []string
	done := map[string]bool{}
	for _, t := range c.Targets {
		if done[t.MX] || !slices.Contains(keys, t.Target) {
			continue
		}
		all := true
		for _, o := range c.Targets {
			if o.MX == t.MX && !slices.Contains(keys, o.Target) {
				all = false
			}
		}
		if all {
			done[t.MX] = true
			out = append(out, fmt.Sprintf("%s:%d", t.MX, t.Port))
			continue
		}
		out = append(out, t.Target)
	}
	return strings.Join(out, ", ")
}

// kindRank is the position of kind in audit.ChangeKinds.
func kindRank(kind string) int {
	if i := slices.Index(audit.ChangeKinds, kind); i >= 0 {
		return i
	}
	return len(audit.ChangeKinds)
}

// compare returns the changes of one target from state p to state c; marks
// are the expiry marks of c's run.
func compare(p, c *state, marks []int) []audit.Change {
	var out []audit.Change
	add := func(kind, b, a string) {
		out = append(out, audit.Change{Partner: c.Partner, Target: c.Target, Kind: kind, Before: b, After: a, SinceRun: p.RunID})
	}
	if p.Verdict == audit.NotProbed || c.Verdict == audit.NotProbed {
		return nil
	}
	out = append(out, verdictChange(p.Verdict, c.Verdict, c.Partner, c.Target, p.RunID)...)
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
	if p.RootStore != c.RootStore {
		add(RootStoreChanged, rootSourceName(p.RootStore), rootSourceName(c.RootStore))
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
