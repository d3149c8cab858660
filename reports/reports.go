// Package reports renders an audit run (audit.Results) as an Excel workbook,
// a PDF report, per-partner PDFs and CSV files, and the lifecycle report of
// the imported private roots. It renders from the results model only and
// takes its clock from Results.Started, so re-rendering a results.json
// later gives the same report.
package reports

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/templates"
)

// Options tune the rendering; the zero value renders with the embedded wording and fonts.
type Options struct {
	Org          string         // organisation name; empty means the organisation.tmpl template
	Templates    *templates.Set // wording; nil means the embedded templates
	CJKFont      *Font          // font for CJK text in PDFs; nil means SystemCJKFont() unless NoFontSearch
	NoFontSearch bool           // do not look for a CJK font in the system font folders
	Warn         func(string)   // receives warnings such as text no font can show; nil drops them
	// DetailCap is how many partners with a problem get a detail section in
	// the PDF report; 0 means DetailCap, a negative value means every one.
	DetailCap int
	// Vantages, when set, adds the comparison of the run's vantage points
	// (mxaudit report --run-label with several of them).
	Vantages *Vantages
}

// DetailCap is how many partners with a problem, most severe first, get a
// detail section in the PDF report by default; the rest are counted and
// referred to the workbook, so that the PDF of a large run stays readable.
const DetailCap = 500

// OriginVerdict is the Origin of a finding made from one of the partner's verdicts rather than by a check.
const OriginVerdict = "verdict"

// Finding is one row of the Findings sheet and CSV: a verdict of a partner
// (Origin "verdict", Issue the verdict's name) or a finding of a check
// (Origin and Issue the check's name).
//
// Each problem is stated once: the verdicts name what is wrong with a
// partner's TLS, each with its severity and remedy, and the reports group
// by them; a check's finding says only what no verdict says (a
// certificate expiring soon, the TLS version or cipher, an imported root,
// how Windows completes a PartialChain). Findings of the checks that
// restated verdicts in older results.json files are left out
// (audit.Results.Restates).
type Finding struct {
	Partner  int // index into Results.Partners
	Severity audit.Severity
	Origin   string
	Issue    string
	Message  string
	Remedy   string
}

// view is what every format renders: the results plus the values derived from them once.
type view struct {
	res      *audit.Results
	now      time.Time
	th       audit.Thresholds // the run's, from the results
	tpl      *templates.Set
	org      string
	title    string
	period   string
	findings []Finding // most severe first, then in partner order
	warn     func(string)
	// forPartner renders for the partner itself: its remedies say what the
	// partner must do, and checks about our own side are left out.
	forPartner bool
	detailCap  int // partners given a detail section in the PDF; negative for every one
	// partners gives the partners in results order: res.Partners, or the
	// run's spill when the view is streamed (res.Partners nil).
	partners iter.Seq[*audit.Result]
	t        *tally // the figures of one pass over partners; nil until taken
}

func newView(res *audit.Results, opts Options) (*view, error) {
	return newViewFor(res, opts, false)
}

func newViewFor(res *audit.Results, opts Options, forPartner bool) (*view, error) {
	v, err := newHeadView(res, opts, forPartner)
	if err != nil {
		return nil, err
	}
	if v.findings, err = v.collectFindings(); err != nil {
		return nil, err
	}
	if v.t, err = v.tallyPartners(v.partners, nil, nil); err != nil {
		return nil, err
	}
	return v, nil
}

// each gives the view's partners one at a time, in results order.
func (v *view) each() iter.Seq[*audit.Result] { return v.partners }

// tallied returns the view's tally, taking it now when it was not taken
// (a template error then goes to the warnings).
func (v *view) tallied() *tally {
	if v.t == nil {
		t, err := v.tallyPartners(v.partners, nil, nil)
		if err != nil {
			v.warn(err.Error())
			t = newTally()
		}
		v.t = t
	}
	return v.t
}

// newHeadView is the view of res without its findings collected: what a
// writer taking the partners one at a time needs (res.Partners unread).
func newHeadView(res *audit.Results, opts Options, forPartner bool) (*view, error) {
	v := &view{res: res, now: res.Started.UTC(), th: res.RunThresholds(), tpl: opts.Templates, warn: opts.Warn, forPartner: forPartner,
		detailCap: cmp.Or(opts.DetailCap, DetailCap), partners: PartnersOf(res)}
	if v.tpl == nil {
		v.tpl = templates.Default()
	}
	if v.warn == nil {
		v.warn = func(string) {}
	}
	var err error
	if v.org, v.title, v.period, err = Masthead(v.tpl, opts.Org, v.now); err != nil {
		return nil, err
	}
	return v, nil
}

// Masthead returns the organisation (org, or organisation.tmpl when org is
// empty), the title and the report period of a run started at now, as every
// report and mail of that run names them.
func Masthead(tpl *templates.Set, org string, now time.Time) (organisation, title, period string, err error) {
	if org == "" {
		if org, err = tpl.Text("organisation.tmpl", nil); err != nil {
			return "", "", "", err
		}
	}
	if title, err = tpl.Text("title.tmpl", nil); err != nil {
		return "", "", "", err
	}
	period, err = tpl.Text("period.tmpl", map[string]any{
		"Quarter": fmt.Sprintf("Q%d", (int(now.Month())-1)/3+1), "Year": now.Year(),
		"Month": now.Month().String(), "Date": Day(now),
	})
	return org, title, period, err
}

func (v *view) collectFindings() ([]Finding, error) {
	var out []Finding
	for i := range v.res.Partners {
		var err error
		if out, err = v.appendFindings(out, i, &v.res.Partners[i]); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return b.Severity.Level() - a.Severity.Level() })
	return out, nil
}

// appendFindings appends the findings of partner r (index i), in the order
// of its verdicts then its checks' findings.
func (v *view) appendFindings(out []Finding, i int, r *audit.Result) ([]Finding, error) {
	vs := r.Verdicts
	if len(vs) == 0 && r.Verdict != "" {
		vs = []audit.Verdict{r.Verdict}
	}
	for _, vd := range vs {
		if vd == audit.Valid {
			continue
		}
		rem, err := v.remedy(r, vd)
		if err != nil {
			return nil, err
		}
		msg := r.Details[vd]
		if msg == "" && vd.Rank() <= audit.HandshakeFailed.Rank() {
			msg = r.Error
		}
		out = append(out, Finding{Partner: i, Severity: r.VerdictSeverity(vd), Origin: OriginVerdict, Issue: string(vd), Message: msg, Remedy: rem})
	}
	for _, f := range r.Findings {
		if v.res.Restates(f) {
			continue // the same facts as the verdict rows above, which carry the templated remedy and severity
		}
		if v.forPartner {
			var ok bool
			if f, ok = PartnerFinding(f); !ok {
				continue
			}
		}
		out = append(out, Finding{Partner: i, Severity: f.Severity, Origin: f.Check, Issue: f.Check, Message: f.Message, Remedy: f.Remedy})
	}
	return out, nil
}

func (v *view) remedy(r *audit.Result, vd audit.Verdict) (string, error) {
	if v.forPartner {
		return PartnerRemedy(v.tpl, r, vd)
	}
	return v.tpl.ResultRemedy(r, vd)
}

// PartnerRemedy returns what partner row r is asked to do about its verdict
// vd, in the partner's words and for the case of the verdict that applies
// (templates.Set.ResultPartnerRemedy). It is the one place a partner remedy
// is looked up, for per-partner PDFs and mails alike.
func PartnerRemedy(tpl *templates.Set, r *audit.Result, vd audit.Verdict) (string, error) {
	if tpl == nil {
		tpl = templates.Default()
	}
	return tpl.ResultPartnerRemedy(r, vd)
}

// Audiences of check findings in partnerWording.
const (
	audienceOurs = "ours" // about our own side: never told to the partner
)

// partnerWording says, for each check mxaudit knows, who its findings are
// for: our side only, or the partner, with the remedy in the partner's own
// words. (The verdicts reach the partner with their partner remedies; the
// checks that restated them are retired: audit.RetiredChecks.)
var partnerWording = map[string]string{
	"aia":          audienceOurs, // how Windows (our Exchange) completes the chain; PartialChain tells the partner
	"private-root": audienceOurs, // the root we imported from the partner: the mail asks for its successor instead
	"CheckFailed":  audienceOurs, // our plugins failed
	"expiry":       "Please renew this certificate before it expires and install the new one on your mail server.",
	"tls-version":  "Please enable TLS 1.2 and 1.3 on your mail server and disable older protocol versions.",
	"dane":         "Please keep your TLSA records in line with every certificate your mail server sends (RSA and ECDSA), and publish the next key's record before each change (RFC 7671 section 8).",
	"mta-sts":      "Please keep your MTA-STS policy (https://mta-sts.<your domain>/.well-known/mta-sts.txt) in line with your MX hosts and their certificates, and change its id with every edit.",
	"tls-rpt":      "Please publish a TLS-RPT record, _smtp._tls TXT \"v=TLSRPTv1; rua=mailto:...\", so that senders can report failed TLS deliveries to you.",
	"weak-cipher":  "Please prefer ECDHE cipher suites with AES-GCM or ChaCha20-Poly1305 and disable RC4, DES/3DES, NULL, EXPORT and static-RSA suites.",
}

// PartnerFinding returns check finding f as it may be told to the partner
// it is about, or false when it must not reach the partner: it is about our
// own side, or it is a retired check's restatement of a verdict, which
// reaches the partner in the partner's words. A known check's remedy is
// replaced by the partner's wording; a check mxaudit does not know keeps
// its message and loses its remedy, which speaks to our admins. This is the
// one rule for per-partner PDFs and mails.
func PartnerFinding(f audit.Finding) (audit.Finding, bool) {
	if _, retired := audit.RetiredChecks[f.Check]; retired {
		return audit.Finding{}, false
	}
	switch w, known := partnerWording[f.Check]; {
	case w == audienceOurs:
		return audit.Finding{}, false
	case known:
		f.Remedy = w
	default:
		f.Remedy = ""
	}
	return f, true
}

// severityOf returns the worst severity of partner i as this view tells it (worstTold).
func (v *view) severityOf(i int) audit.Severity {
	var fs []Finding
	if v.forPartner {
		for _, f := range v.findings {
			if f.Partner == i {
				fs = append(fs, f)
			}
		}
	}
	return v.worstTold(&v.res.Partners[i], fs)
}

// worstTold returns the worst severity of partner r, fs its findings, as
// this view tells it: for a partner's own report, only what the partner is
// told counts.
func (v *view) worstTold(r *audit.Result, fs []Finding) audit.Severity {
	if !v.forPartner {
		return r.WorstSeverity()
	}
	worst := audit.Info
	for _, f := range fs {
		if f.Severity.Level() > worst.Level() {
			worst = f.Severity
		}
	}
	return worst
}

// problem reports whether severity s makes a partner failing: warning or above.
func problem(s audit.Severity) bool { return s.Level() >= audit.Warning.Level() }

// severities lists the severities most severe first.
var severities = []audit.Severity{audit.Critical, audit.Error, audit.Warning, audit.Info}

type count struct {
	Label string
	N     int
	Sev   audit.Severity // colour of the bar
}

// byVerdict counts partners by standing (audit.Result.Standing): by primary
// verdict in audit.Order, with the Valid partners that carry a finding at
// warning or above counted apart as audit.ValidWithFindings, right after
// Valid, so that "Valid" here is the Valid tile (partners at info). Standings
// no partner has are left out.
func (v *view) byVerdict() []count {
	n := maps.Clone(v.tallied().standing)
	var out []count
	for _, vd := range audit.Order {
		if n[string(vd)] > 0 {
			out = append(out, count{string(vd), n[string(vd)], vd.Severity(false)})
			delete(n, string(vd))
		}
		if vd == audit.Valid && n[audit.ValidWithFindings] > 0 {
			out = append(out, count{audit.ValidWithFindings, n[audit.ValidWithFindings], audit.Warning})
			delete(n, audit.ValidWithFindings)
		}
	}
	var rest []string
	for vd := range n {
		rest = append(rest, vd)
	}
	slices.Sort(rest)
	for _, s := range rest { // verdicts this mxaudit does not know, from a newer results.json
		out = append(out, count{s, n[s], audit.Warning})
	}
	return out
}

// bySeverity counts partners by worst severity, most severe first, all four severities.
func (v *view) bySeverity() []count {
	n := v.tallied().worst
	out := make([]count, 0, len(severities))
	for _, s := range severities {
		out = append(out, count{string(s), n[s], s})
	}
	return out
}

// CertRow is one distinct certificate seen in the run and the partners presenting it.
type CertRow struct {
	audit.Cert
	Partners []string
}

// servedCerts returns every certificate partner r's servers presented: the
// chain of each target and of each key type a server holds (RSA and ECDSA),
// or the partner's own chain for a result without targets.
func servedCerts(r *audit.Result) []audit.Cert {
	out := slices.Clone(r.Chain)
	for _, ca := range r.Certificates {
		out = append(out, ca.Chain...)
	}
	for i := range r.Targets {
		t := &r.Targets[i]
		out = append(out, t.Chain...)
		for _, ca := range t.Certificates {
			out = append(out, ca.Chain...)
		}
	}
	return out
}

// sortedRoots returns the private roots soonest expiry first.
func sortedRoots(roots []audit.PrivateRoot) []audit.PrivateRoot {
	out := slices.Clone(roots)
	slices.SortStableFunc(out, func(a, b audit.PrivateRoot) int {
		return cmp.Or(a.NotAfter.Compare(b.NotAfter), strings.Compare(a.File, b.File), strings.Compare(a.SHA256, b.SHA256))
	})
	return out
}

// rootStatus returns r's status under the run's thresholds (audit.RootStatusOf).
func (v *view) rootStatus(r audit.PrivateRoot) string { return audit.RootStatusOf(r, v.th) }

// rootsToActOn counts the private roots that are expired or expiring.
func (v *view) rootsToActOn() int {
	n := 0
	for _, r := range v.res.PrivateRoots {
		if audit.Attention(v.rootStatus(r)) {
			n++
		}
	}
	return n
}

// RootAction returns the recommended action for a private root from the
// action-<status>.tmpl templates, its status graded under th (the run's
// thresholds) when it carries none.
func RootAction(tpl *templates.Set, r audit.PrivateRoot, th audit.Thresholds) (string, error) {
	if tpl == nil {
		tpl = templates.Default()
	}
	st := audit.RootStatusOf(r, th)
	name := "action-" + st + ".tmpl"
	if !tpl.Has(name) {
		return "", fmt.Errorf("private root %s: status %q has no %s", r.File, st, name)
	}
	return tpl.Text(name, map[string]any{
		"File": r.File, "Subject": r.Subject, "NotAfter": Day(r.NotAfter), "DaysLeft": r.DaysLeft,
		"DeclaredBy": strings.Join(r.DeclaredBy, ", "), "UsedBy": strings.Join(r.UsedBy, ", "),
		"ReviewBy": Day(th.ReviewBy(r.NotAfter)), "ExpiringDays": th.RootExpiringDays,
	})
}

// rootAction is the action for private root r: our admin's, or the partner's in its own report.
func (v *view) rootAction(r audit.PrivateRoot) (string, error) {
	if v.forPartner {
		return PartnerRootAction(v.tpl, r, v.th)
	}
	return RootAction(v.tpl, r, v.th)
}

// PartnerRootAction returns what the partner is asked to do about a private
// root we imported from it, from partner-root-action.tmpl (per-partner
// reports), its status graded under th when it carries none.
func PartnerRootAction(tpl *templates.Set, r audit.PrivateRoot, th audit.Thresholds) (string, error) {
	if tpl == nil {
		tpl = templates.Default()
	}
	return tpl.Text("partner-root-action.tmpl", map[string]any{
		"File": r.File, "Subject": r.Subject, "NotAfter": Day(r.NotAfter), "DaysLeft": r.DaysLeft, "Status": audit.RootStatusOf(r, th),
	})
}

// Day formats t as a date (UTC), or "" for the zero time.
func Day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

// Stamp formats t as date and time in UTC, or "" for the zero time.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// joinCapped joins names with "; " and stops before max characters, saying how many were left out.
func joinCapped(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if b.Len()+len(n)+2 > max-40 {
			fmt.Fprintf(&b, " … and %d more", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(n)
	}
	return b.String()
}

// leafFacts returns a partner's leaf subject, issuer, expiry and days left (nil when no certificate was seen).
func (v *view) leafFacts(r *audit.Result) (subject, issuer string, notAfter time.Time, daysLeft *int) {
	l := r.Leaf()
	if l == nil {
		return "", "", time.Time{}, nil
	}
	d := audit.DaysLeft(l.NotAfter, v.now)
	return l.Subject, l.Issuer, l.NotAfter.UTC(), &d
}

// changeGroup is the changes of one kind with its wording from the templates.
type changeGroup struct {
	kind    string
	label   string // change-label.tmpl: the kind in words
	meaning string // change-<kind>.tmpl, or change-other.tmpl for a kind this mxaudit does not know
	items   []audit.Change
}

// changeLabel returns the kind in words from change-label.tmpl.
func (v *view) changeLabel(kind string) (string, error) {
	return v.tpl.Text("change-label.tmpl", map[string]any{"Kind": kind})
}

// changeGroups groups the run's changes by kind, in audit.ChangeKinds order and then
// unknown kinds by name, each group's changes in results order.
func (v *view) changeGroups() ([]changeGroup, error) {
	idx := map[string]int{}
	var out []changeGroup
	for _, c := range v.res.Changes {
		i, ok := idx[c.Kind]
		if !ok {
			i = len(out)
			idx[c.Kind] = i
			out = append(out, changeGroup{kind: c.Kind})
		}
		out[i].items = append(out[i].items, c)
	}
	rank := func(kind string) int {
		if i := slices.Index(audit.ChangeKinds, kind); i >= 0 {
			return i
		}
		return len(audit.ChangeKinds)
	}
	slices.SortStableFunc(out, func(a, b changeGroup) int {
		return cmp.Or(rank(a.kind)-rank(b.kind), strings.Compare(a.kind, b.kind))
	})
	for i := range out {
		g := &out[i]
		var err error
		if g.label, err = v.changeLabel(g.kind); err != nil {
			return nil, err
		}
		name := "change-" + g.kind + ".tmpl"
		if !slices.Contains(audit.ChangeKinds, g.kind) || !v.tpl.Has(name) {
			name = "change-other.tmpl"
		}
		data := map[string]any{"Kind": g.kind, "Label": g.label, "Count": len(g.items),
			"WarningDays": v.th.ExpiryWarningDays, "ErrorDays": v.th.ExpiryErrorDays}
		if g.meaning, err = v.tpl.Text(name, data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// changedPartners counts the distinct partners among the run's changes.
func (v *view) changedPartners() int {
	seen := map[string]bool{}
	for _, c := range v.res.Changes {
		seen[c.Partner] = true
	}
	return len(seen)
}

// revocationFacts says how r's chain was checked for revocation ("crl: good",
// "not checked", ...) and until when the CRL or OCSP answer holds.
func revocationFacts(r *audit.Result) (string, time.Time) {
	rv := r.Revocation
	if rv == nil {
		return "", time.Time{}
	}
	if rv.Status == rv.Method {
		return rv.Status, rv.NextUpdate
	}
	return rv.Method + ": " + rv.Status, rv.NextUpdate
}
