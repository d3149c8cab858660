package history

import (
	"fmt"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Change kinds, the values of audit.Change.Kind; the package documentation describes each.
const (
	PartnerAdded      = "partner_added"
	PartnerRemoved    = "partner_removed"
	CertReplaced      = "cert_replaced"
	IssuerChanged     = "issuer_changed"
	SubjectChanged    = "subject_changed"
	KeyChanged        = "key_changed"
	RootSourceChanged = "root_source_changed"
	VerdictWorse      = "verdict_worse"
	VerdictRecovered  = "verdict_recovered"
	ExpiryThreshold   = "expiry_threshold"
)

// Kinds lists every change kind in the order changes of one partner are reported.
var Kinds = []string{
	PartnerAdded, PartnerRemoved, VerdictWorse, VerdictRecovered, CertReplaced,
	IssuerChanged, SubjectChanged, KeyChanged, RootSourceChanged, ExpiryThreshold,
}

// ExpiryThresholds are the days-left marks whose crossing is a change,
// widest first: at most 30 days left, at most 7, and 0 standing for expired
// (below 0 days left).
var ExpiryThresholds = []int{30, 7, 0}

// expiryLevel returns how many of ExpiryThresholds days has reached.
func expiryLevel(days int) int {
	n := 0
	for _, t := range ExpiryThresholds {
		if days <= t && (t > 0 || days < 0) {
			n++
		}
	}
	return n
}

// crossed returns the most severe threshold that days reached while before
// had not, and whether there is one.
func crossed(before, days int) (int, bool) {
	lb, la := expiryLevel(before), expiryLevel(days)
	if la <= lb {
		return 0, false
	}
	return ExpiryThresholds[la-1], true
}

// leafInfo is what change detection needs of a leaf certificate.
type leafInfo struct {
	SHA256   string
	Subject  string
	Issuer   string
	KeySHA   string
	NotAfter time.Time
}

// state is one partner's result reduced to what change detection compares.
type state struct {
	Partner    string
	Host       string
	Port       int
	Verdict    audit.Verdict
	RootSource string
	Leaf       *leafInfo
}

// snapshot is one run reduced to its partners' states, in inventory order.
type snapshot struct {
	RunID   int64
	Started time.Time
	States  []state
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

func daysWords(d int) string {
	switch {
	case d < 0:
		return fmt.Sprintf("expired %d days ago", -d)
	case d == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", d)
}

// diffSnapshots returns the changes from prev to cur, partner by partner in
// cur's order (removed partners last, in prev's order), each partner's
// changes in the order of Kinds. SinceRun is prev.RunID.
func diffSnapshots(prev, cur *snapshot) []audit.Change {
	before := make(map[string]*state, len(prev.States))
	for i := range prev.States {
		before[prev.States[i].Partner] = &prev.States[i]
	}
	seen := make(map[string]bool, len(cur.States))
	var out []audit.Change
	add := func(partner, kind, b, a string) {
		out = append(out, audit.Change{Partner: partner, Kind: kind, Before: b, After: a, SinceRun: prev.RunID})
	}
	for i := range cur.States {
		c := &cur.States[i]
		if seen[c.Partner] {
			continue // duplicate name: the first row stands for the partner
		}
		seen[c.Partner] = true
		p, ok := before[c.Partner]
		if !ok {
			add(c.Partner, PartnerAdded, "", fmt.Sprintf("%s:%d", c.Host, c.Port))
			continue
		}
		if p.Verdict == audit.NotProbed || c.Verdict == audit.NotProbed {
			continue
		}
		switch pr, cr := p.Verdict.Rank(), c.Verdict.Rank(); {
		case cr < pr:
			add(c.Partner, VerdictWorse, string(p.Verdict), string(c.Verdict))
		case cr > pr:
			add(c.Partner, VerdictRecovered, string(p.Verdict), string(c.Verdict))
		}
		if p.Leaf == nil || c.Leaf == nil {
			continue
		}
		pl, cl := p.Leaf, c.Leaf
		if pl.SHA256 != cl.SHA256 {
			add(c.Partner, CertReplaced, describeLeaf(pl), describeLeaf(cl))
		}
		if pl.Issuer != cl.Issuer {
			add(c.Partner, IssuerChanged, pl.Issuer, cl.Issuer)
		}
		if pl.Subject != cl.Subject {
			add(c.Partner, SubjectChanged, pl.Subject, cl.Subject)
		}
		if pl.KeySHA != cl.KeySHA {
			add(c.Partner, KeyChanged, shortSHA(pl.KeySHA), shortSHA(cl.KeySHA))
		}
		if p.RootSource != c.RootSource {
			add(c.Partner, RootSourceChanged, rootSourceName(p.RootSource), rootSourceName(c.RootSource))
		}
		bd := audit.DaysLeft(pl.NotAfter, prev.Started)
		cd := audit.DaysLeft(cl.NotAfter, cur.Started)
		if t, ok := crossed(bd, cd); ok {
			after := daysWords(cd)
			if t > 0 {
				after += fmt.Sprintf(" (<= %d)", t)
			}
			add(c.Partner, ExpiryThreshold, daysWords(bd), after)
		}
	}
	for i := range prev.States {
		p := &prev.States[i]
		if seen[p.Partner] {
			continue
		}
		seen[p.Partner] = true
		add(p.Partner, PartnerRemoved, fmt.Sprintf("%s:%d", p.Host, p.Port), "")
	}
	return out
}
