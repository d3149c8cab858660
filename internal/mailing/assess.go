package mailing

import (
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// Situation is what a partner's message is about; it picks the mail-<situation>.tmpl template.
type Situation string

// The situations of a partner, most urgent first (see pick).
const (
	Failing       Situation = "failing"        // something the partner must fix: a verdict, or a partner finding at warning or above
	RootSuccessor Situation = "root-successor" // nothing to fix, but the root CA we imported from the partner expires: we need its successor
	Expiring      Situation = "expiring"       // nothing to fix yet, but a certificate of the partner's chain expires soon
	AllGood       Situation = "ok"             // nothing to do
)

// Situations lists every partner situation, most urgent first.
var Situations = []Situation{Failing, RootSuccessor, Expiring, AllGood}

// checkExpiry is the built-in check whose warnings a mail tells as its
// Expiring list (in the partner's words, within --expiring-days), not as problems.
const checkExpiry = "expiry"

// Problem is one thing a partner is asked to fix, in the partner's words.
type Problem struct {
	Host     string // the mail host (inventory row) it is about
	Issue    string // the verdict, or the name of the check
	Severity audit.Severity
	Message  string
	Remedy   string // what the partner should do; "" when mxaudit has no partner wording for it
}

// ExpiringCert is a certificate a partner's TLS relies on that expires soon.
type ExpiringCert struct {
	Host     string // the mail host whose chain holds it
	Subject  string
	NotAfter string // YYYY-MM-DD
	DaysLeft int
	// ImportedRoot is set for the private root we imported from the
	// partner; a message asks for its successor (Assessment.Roots) instead of listing it.
	ImportedRoot bool
}

// RootRequest is a root CA we imported from the partner that expires (within
// the run's root_expiring_days) or expired: the partner is asked for its successor.
type RootRequest struct {
	Subject  string
	File     string // in --private-roots
	NotAfter string // YYYY-MM-DD
	DaysLeft int
	Expired  bool
	Hosts    []string // the partner's hosts whose chains end in it
}

// Assessment is what a partner's message says: its situation and why.
type Assessment struct {
	Situation Situation
	Problems  []Problem      // most severe first, then in row order
	Expiring  []ExpiringCert // the partner's own chain certificates expiring within the days, soonest first
	Roots     []RootRequest  // roots we imported from the partner that need a successor, soonest first
	// ExpiringSoon is set when a chain certificate or the imported root
	// expires within the days: the owner's "expiring" count.
	ExpiringSoon bool
	Probed       int // rows that were probed (a partner listed with two MX hosts has two)
}

// Assess looks at every probed row of one partner (the inventory rows of
// one name) in a run started at now and graded by th, with days as
// --expiring-days, and says what its message must say. Remedies of verdicts come from
// reports.PartnerRemedy and check findings pass reports.PartnerFinding, so
// the mail says what the partner's PDF says and nothing of our own side.
func Assess(rows []*audit.Result, roots []audit.PrivateRoot, now time.Time, days int, th audit.Thresholds, tpl *templates.Set) (Assessment, error) {
	var a Assessment
	for _, r := range rows {
		if r.Verdict == audit.NotProbed {
			continue
		}
		a.Probed++
		ps, err := problems(r, tpl)
		if err != nil {
			return Assessment{}, err
		}
		a.Problems = append(a.Problems, ps...)
		for _, e := range expiringCerts(r, roots, now, days) {
			a.ExpiringSoon = true
			if !e.ImportedRoot {
				a.Expiring = append(a.Expiring, e)
			}
		}
		for _, q := range rootRequests(r, roots, now, th) {
			if k := slices.IndexFunc(a.Roots, func(x RootRequest) bool { return x.File == q.File && x.Subject == q.Subject }); k >= 0 {
				a.Roots[k].Hosts = appendNew(a.Roots[k].Hosts, r.Host)
				continue
			}
			a.Roots = append(a.Roots, q)
		}
	}
	slices.SortStableFunc(a.Problems, func(x, y Problem) int { return y.Severity.Level() - x.Severity.Level() })
	slices.SortStableFunc(a.Expiring, func(x, y ExpiringCert) int { return x.DaysLeft - y.DaysLeft })
	slices.SortStableFunc(a.Roots, func(x, y RootRequest) int { return x.DaysLeft - y.DaysLeft })
	a.Situation = pick(len(a.Problems), soonest(a.Expiring), soonestRoot(a.Roots))
	return a, nil
}

// deadline is the days left until something expires (negative once it
// has); ok is false when nothing does.
type deadline struct {
	days int
	ok   bool
}

// pick chooses the situation of a partner with nProblems problems, its own
// certificate expiring soonest at cert and the imported root needing a
// successor at root: any problem makes it failing; otherwise the nearer of
// the two deadlines decides (the root on a tie).
func pick(nProblems int, cert, root deadline) Situation {
	switch {
	case nProblems > 0:
		return Failing
	case root.ok && (!cert.ok || root.days <= cert.days):
		return RootSuccessor
	case cert.ok:
		return Expiring
	}
	return AllGood
}

func soonest(es []ExpiringCert) deadline {
	if len(es) == 0 {
		return deadline{}
	}
	return deadline{es[0].DaysLeft, true}
}

func soonestRoot(rs []RootRequest) deadline {
	if len(rs) == 0 {
		return deadline{}
	}
	return deadline{rs[0].DaysLeft, true}
}

// problems returns what row r asks its partner to fix: every verdict but
// Valid and NotProbed with its partner remedy, and every check finding at
// warning or above that reports.PartnerFinding lets through (expiry
// warnings excepted: a mail lists the expiring certificates itself).
func problems(r *audit.Result, tpl *templates.Set) ([]Problem, error) {
	vs := r.Verdicts
	if len(vs) == 0 && r.Verdict != "" {
		vs = []audit.Verdict{r.Verdict}
	}
	var out []Problem
	for _, vd := range vs {
		if vd == audit.Valid || vd == audit.NotProbed {
			continue
		}
		rem, err := partnerRemedy(tpl, r, vd)
		if err != nil {
			return nil, err
		}
		msg := r.Details[vd]
		if msg == "" && vd.Rank() <= audit.HandshakeFailed.Rank() {
			msg = r.Error
		}
		out = append(out, Problem{Host: r.Host, Issue: string(vd), Severity: r.VerdictSeverity(vd), Message: msg, Remedy: rem})
	}
	if f, ok := reports.PartnerDelivery(r); ok {
		out = append(out, Problem{Host: r.Host, Issue: f.Check, Severity: f.Severity, Message: f.Message, Remedy: f.Remedy})
	}
	for _, f := range r.Findings {
		if f.Severity.Level() < audit.Warning.Level() || f.Check == checkExpiry {
			continue
		}
		pf, ok := reports.PartnerFinding(f)
		if !ok {
			continue
		}
		out = append(out, Problem{Host: r.Host, Issue: pf.Check, Severity: pf.Severity, Message: pf.Message, Remedy: pf.Remedy})
	}
	return out, nil
}

// partnerRemedy is where a mail looks up what the partner should do about a verdict.
func partnerRemedy(tpl *templates.Set, r *audit.Result, vd audit.Verdict) (string, error) {
	return reports.PartnerRemedy(tpl, r, vd)
}

// expiringCerts returns the certificates of r's chain, and the private root
// its chain ends in, that expire within days of now (and have not yet):
// the one rule for "expiring soon", in partner mails and the owner's count.
func expiringCerts(r *audit.Result, roots []audit.PrivateRoot, now time.Time, days int) []ExpiringCert {
	var out []ExpiringCert
	for _, pr := range roots {
		if !trustedVia(r, pr) {
			continue
		}
		if d := audit.DaysLeft(pr.NotAfter, now); d >= 0 && d <= days {
			out = append(out, ExpiringCert{Host: r.Host, Subject: pr.Subject, NotAfter: reports.Day(pr.NotAfter), DaysLeft: d, ImportedRoot: true})
		}
	}
	for _, c := range r.Chain {
		if slices.ContainsFunc(out, func(e ExpiringCert) bool { return e.Subject == c.Subject }) {
			continue // the imported root, sent along with the chain
		}
		if d := audit.DaysLeft(c.NotAfter, now); d >= 0 && d <= days {
			out = append(out, ExpiringCert{Host: r.Host, Subject: c.Subject, NotAfter: reports.Day(c.NotAfter), DaysLeft: d})
		}
	}
	slices.SortStableFunc(out, func(a, b ExpiringCert) int { return a.DaysLeft - b.DaysLeft })
	return out
}

// rootRequests returns the roots we imported from r's partner that are
// expiring or expired by the private roots' own rule (audit.Thresholds.RootStatus):
// the partner must send us their successors.
func rootRequests(r *audit.Result, roots []audit.PrivateRoot, now time.Time, th audit.Thresholds) []RootRequest {
	var out []RootRequest
	for _, pr := range roots {
		if !trustedVia(r, pr) && !declaredFor(r, pr) {
			continue
		}
		d := audit.DaysLeft(pr.NotAfter, now)
		if audit.Attention(th.RootStatus(d, true)) {
			out = append(out, RootRequest{Subject: pr.Subject, File: pr.File, NotAfter: reports.Day(pr.NotAfter), DaysLeft: d, Expired: d < 0, Hosts: []string{r.Host}})
		}
	}
	return out
}

// trustedVia reports whether r's chain ends in the imported root pr.
func trustedVia(r *audit.Result, pr audit.PrivateRoot) bool {
	if r.Root.Store == audit.RootPrivate && r.Root.SHA256 != "" && pr.SHA256 != "" {
		return strings.EqualFold(r.Root.SHA256, pr.SHA256)
	}
	return slices.Contains(pr.UsedBy, r.Name)
}

// declaredFor reports whether r's inventory row names pr as its private
// root while its chain ended in no trust anchor (the root expired, or was
// not imported): the partner's root is still the one to renew. A partner
// whose chain now ends elsewhere (it moved to a public CA) is not asked.
func declaredFor(r *audit.Result, pr audit.PrivateRoot) bool {
	return (r.Root.Store == audit.RootNone || r.Root.Store == "") && slices.Contains(pr.DeclaredBy, r.Name)
}

func appendNew(ss []string, s string) []string {
	if slices.Contains(ss, s) {
		return ss
	}
	return append(ss, s)
}
