// Package mailing sends an audit run's reports by e-mail: each partner with
// a contact gets its own per-partner PDF (optionally its rows as a
// workbook) with a text chosen by its situation (failing, expiring soon,
// all good), and the audit owner gets the full workbook and PDF with a
// summary. Messages are built with github.com/wneessen/go-mail and either
// submitted over SMTP (STARTTLS or implicit TLS, AUTH PLAIN or LOGIN, the
// server certificate verified) or written as .eml files. A send log makes
// a second run for the same audit send nothing twice.
package mailing

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// Situation is what a partner's message is about; it picks the mail-<situation>.tmpl template.
type Situation string

// The situations of a partner, most urgent first.
const (
	Failing  Situation = "failing"  // a verdict or finding at warning or above
	Expiring Situation = "expiring" // nothing wrong yet, but a certificate it relies on expires soon
	AllGood  Situation = "ok"       // nothing to do
)

// DefaultExpiringDays is how close to its NotAfter a certificate counts as expiring soon.
const DefaultExpiringDays = 30

// MIME types of the attachments.
const (
	TypePDF  = "application/pdf"
	TypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// ExpiringCert is a certificate a partner's TLS relies on that expires soon.
type ExpiringCert struct {
	Subject  string
	NotAfter string // YYYY-MM-DD
	DaysLeft int
	Note     string // why it matters when it is not the partner's own chain
}

// Classify returns the situation of r in a run started at now, and the
// certificates (of its chain, or the private root its chain ends in) that
// expire within days, soonest first.
func Classify(r *audit.Result, roots []audit.PrivateRoot, now time.Time, days int) (Situation, []ExpiringCert) {
	var exp []ExpiringCert
	for _, c := range r.Chain {
		if d := audit.DaysLeft(c.NotAfter, now); d >= 0 && d <= days {
			exp = append(exp, ExpiringCert{Subject: c.Subject, NotAfter: reports.Day(c.NotAfter), DaysLeft: d})
		}
	}
	for _, pr := range roots {
		if !slices.Contains(pr.UsedBy, r.Name) {
			continue
		}
		if d := audit.DaysLeft(pr.NotAfter, now); d >= 0 && d <= days && !slices.ContainsFunc(exp, func(e ExpiringCert) bool { return e.Subject == pr.Subject }) {
			exp = append(exp, ExpiringCert{Subject: pr.Subject, NotAfter: reports.Day(pr.NotAfter), DaysLeft: d,
				Note: "This is your root CA, which we imported as a private root: please send us its successor before then"})
		}
	}
	slices.SortStableFunc(exp, func(a, b ExpiringCert) int { return a.DaysLeft - b.DaysLeft })
	switch {
	case r.WorstSeverity().Level() >= audit.Warning.Level():
		return Failing, exp
	case len(exp) > 0:
		return Expiring, exp
	}
	return AllGood, nil
}

// SplitContacts splits a contact field into its addresses: separated by
// ';' or ',' outside quotes and angle brackets, as the inventory accepts them.
func SplitContacts(s string) ([]*mail.Address, error) {
	parts := audit.SplitContacts(s)
	var out []*mail.Address
	for _, p := range parts {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		a, err := mail.ParseAddress(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an e-mail address", p)
		}
		out = append(out, a)
	}
	return out, nil
}

// Options say what to compose.
type Options struct {
	Sender       string          // From address, required
	Owner        string          // addresses (comma-separated) that get the full report; "" for none
	Partners     []string        // only these partners, by name; nil for every partner
	OnlyFailing  bool            // only partners whose situation is Failing
	XLSX         bool            // attach each partner's own rows as a workbook too
	ExpiringDays int             // 0 means DefaultExpiringDays
	Reports      reports.Options // wording (Templates), organisation, fonts
	Date         time.Time       // Date header; zero means time.Now()
	Run          string          // run key, part of every Message-ID; "" means RunKey(res)
}

// Message is one composed e-mail to one recipient.
type Message struct {
	Partner     string    // partner name; "" for the owner's message
	Owner       bool      // the full report for the audit owner
	To          string    // the recipient's address (addr-spec only)
	Situation   Situation // the partner's situation; "" for the owner
	Subject     string
	ID          string   // Message-ID without angle brackets
	Attachments []string // attachment file names
	msg         *gomail.Msg
}

// Msg returns the go-mail message.
func (m *Message) Msg() *gomail.Msg { return m.msg }

// WriteTo writes the message in RFC 5322 form (as a .eml file holds it).
func (m *Message) WriteTo(w io.Writer) (int64, error) { return m.msg.WriteTo(w) }

// Who returns the partner name, or "owner", and the address, for messages and logs.
func (m *Message) Who() string {
	if m.Owner {
		return "owner <" + m.To + ">"
	}
	return m.Partner + " <" + m.To + ">"
}

// Skip is a partner that gets no message, and why.
type Skip struct {
	Partner string
	Reason  string
	Failed  bool // the partner should have been mailed but cannot be (a bad contact address)
}

// Plan is everything Compose decided: the messages, partners first and the owner's last, and the partners left out.
type Plan struct {
	Run      string
	Messages []*Message
	Skipped  []Skip
}

// UnknownPartnerError is returned by Compose when Options.Partners names a partner the results do not hold.
type UnknownPartnerError struct{ Names []string }

func (e *UnknownPartnerError) Error() string {
	return fmt.Sprintf("no partner named %s in the results", strings.Join(quoteAll(e.Names), ", "))
}

// AddressError is returned by Compose for a sender or owner address that does not parse.
type AddressError struct {
	Option string // "sender" or "owner"
	Value  string
	Err    error
}

func (e *AddressError) Error() string { return fmt.Sprintf("%s %q: %v", e.Option, e.Value, e.Err) }
func (e *AddressError) Unwrap() error { return e.Err }

// RunKey identifies an audit run in the send log: its start time to the
// nanosecond, which results.json and the history database both keep.
func RunKey(res *audit.Results) string { return res.Started.UTC().Format(time.RFC3339Nano) }

// problem is one line of a failing partner's message.
type problem struct{ Issue, Message, Remedy string }

// mailed is one line of the owner's lists.
type mailed struct{ Partner, Situation, To, Reason string }

// Compose builds the messages for res. The partners' PDFs are rendered
// once each; a partner with several addresses gets one message per address,
// so that one refused address does not keep the others from their report.
func Compose(res *audit.Results, opts Options) (*Plan, error) {
	sender, err := mail.ParseAddress(opts.Sender)
	if err != nil {
		return nil, &AddressError{Option: "sender", Value: opts.Sender, Err: err}
	}
	var owners []*mail.Address
	if opts.Owner != "" {
		if owners, err = SplitContacts(opts.Owner); err != nil {
			return nil, &AddressError{Option: "owner", Value: opts.Owner, Err: err}
		}
	}
	if opts.ExpiringDays == 0 {
		opts.ExpiringDays = DefaultExpiringDays
	}
	tpl := opts.Reports.Templates
	if tpl == nil {
		tpl = templates.Default()
		opts.Reports.Templates = tpl
	}
	if opts.Date.IsZero() {
		opts.Date = time.Now()
	}
	plan := &Plan{Run: opts.Run}
	if plan.Run == "" {
		plan.Run = RunKey(res)
	}
	var unknown []string
	for _, n := range opts.Partners {
		if !slices.ContainsFunc(res.Partners, func(r audit.Result) bool { return r.Name == n }) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, &UnknownPartnerError{Names: unknown}
	}
	now := res.Started.UTC()
	common, err := commonData(tpl, opts.Reports.Org, now)
	if err != nil {
		return nil, err
	}
	c := composer{opts: opts, sender: sender, run: plan.Run}
	files := reports.PartnerFileNames(res)
	counts := map[Situation]int{}
	var sent, notSent []mailed
	for i := range res.Partners {
		r := &res.Partners[i]
		sit, exp := Classify(r, res.PrivateRoots, now, opts.ExpiringDays)
		counts[sit]++
		skip := func(reason string, failed bool) {
			plan.Skipped = append(plan.Skipped, Skip{Partner: r.Name, Reason: reason, Failed: failed})
			notSent = append(notSent, mailed{Partner: r.Name, Reason: reason})
		}
		switch {
		case opts.Partners != nil && !slices.Contains(opts.Partners, r.Name):
			continue // not asked for: not even worth a line
		case r.Verdict == audit.NotProbed:
			skip("not probed (the run was interrupted)", false)
			continue
		case opts.OnlyFailing && sit != Failing:
			continue
		case strings.TrimSpace(r.Contact) == "":
			skip("no contact in the inventory", false)
			continue
		}
		to, err := SplitContacts(r.Contact)
		if err != nil {
			skip("contact: "+err.Error(), true)
			continue
		}
		data, err := c.partnerData(common, r, sit, exp, files[i])
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w", r.Name, err)
		}
		subject, body, err := render(tpl, "mail-"+string(sit)+".tmpl", data)
		if err != nil {
			return nil, fmt.Errorf("partner %s: %w", r.Name, err)
		}
		var pdf bytes.Buffer
		if err := reports.PartnerPDF(&pdf, res, r.Name, opts.Reports); err != nil {
			return nil, fmt.Errorf("partner %s: %w", r.Name, err)
		}
		atts := []attachment{{name: files[i], typ: TypePDF, data: pdf.Bytes()}}
		if opts.XLSX {
			var x bytes.Buffer
			if err := reports.WriteXLSX(&x, onlyPartner(res, i), opts.Reports); err != nil {
				return nil, fmt.Errorf("partner %s: workbook: %w", r.Name, err)
			}
			atts = append(atts, attachment{name: strings.TrimSuffix(files[i], ".pdf") + ".xlsx", typ: TypeXLSX, data: x.Bytes()})
		}
		var addrs []string
		for _, a := range to {
			m, err := c.message(r.Name, a, subject, body, atts)
			if err != nil {
				return nil, fmt.Errorf("partner %s: %w", r.Name, err)
			}
			m.Situation = sit
			plan.Messages = append(plan.Messages, m)
			addrs = append(addrs, a.Address)
		}
		sent = append(sent, mailed{Partner: r.Name, Situation: string(sit), To: strings.Join(addrs, ", ")})
	}
	if len(owners) == 0 {
		return plan, nil
	}
	var pdf, xlsx bytes.Buffer
	if err := reports.WritePDF(&pdf, res, opts.Reports); err != nil {
		return nil, fmt.Errorf("owner: %w", err)
	}
	if err := reports.WriteXLSX(&xlsx, res, opts.Reports); err != nil {
		return nil, fmt.Errorf("owner: %w", err)
	}
	data := common
	data["Partners"] = len(res.Partners)
	data["Failing"], data["Expiring"], data["AllGood"] = counts[Failing], counts[Expiring], counts[AllGood]
	data["ExpiringDays"] = opts.ExpiringDays
	data["Incomplete"] = res.Incomplete
	data["Finished"] = reports.Stamp(res.Finished)
	data["Mailed"], data["NotMailed"] = sent, notSent
	data["PDF"], data["XLSX"] = reports.FilePDF, reports.FileXLSX
	subject, body, err := render(tpl, "mail-owner.tmpl", data)
	if err != nil {
		return nil, fmt.Errorf("owner: %w", err)
	}
	atts := []attachment{
		{name: reports.FilePDF, typ: TypePDF, data: pdf.Bytes()},
		{name: reports.FileXLSX, typ: TypeXLSX, data: xlsx.Bytes()},
	}
	for _, a := range owners {
		m, err := c.message("", a, subject, body, atts)
		if err != nil {
			return nil, fmt.Errorf("owner: %w", err)
		}
		m.Owner = true
		plan.Messages = append(plan.Messages, m)
	}
	return plan, nil
}

// commonData is the template data every message shares.
func commonData(tpl *templates.Set, org string, now time.Time) (map[string]any, error) {
	org, title, period, err := reports.Masthead(tpl, org, now)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Org": org, "Title": title, "Period": period, "Started": reports.Day(now)}, nil
}

type composer struct {
	opts   Options
	sender *mail.Address
	run    string
}

func (c *composer) partnerData(common map[string]any, r *audit.Result, sit Situation, exp []ExpiringCert, file string) (map[string]any, error) {
	data := make(map[string]any, len(common)+12)
	for k, v := range common {
		data[k] = v
	}
	vs := r.Verdicts
	if len(vs) == 0 && r.Verdict != "" {
		vs = []audit.Verdict{r.Verdict}
	}
	var probs []problem
	for _, vd := range vs {
		if vd == audit.Valid {
			continue
		}
		rem, err := c.opts.Reports.Templates.PartnerRemedy(vd, map[string]any{
			"Verdict": string(vd), "Partner": r.Name, "Domain": r.Domain, "Host": r.Host, "Default": vd.PartnerRemedy(),
		})
		if err != nil {
			return nil, err
		}
		msg := r.Details[vd]
		if msg == "" && vd.Rank() <= audit.HandshakeFailed.Rank() {
			msg = r.Error
		}
		probs = append(probs, problem{Issue: string(vd), Message: msg, Remedy: rem})
	}
	for _, f := range r.Findings {
		if !reports.PartnerFacing(f.Check) {
			continue
		}
		if f.Severity.Level() >= audit.Warning.Level() {
			probs = append(probs, problem{Issue: f.Check, Message: f.Message, Remedy: f.Remedy})
		}
	}
	issue := string(r.Verdict)
	if len(probs) > 0 {
		issue = probs[0].Issue
	}
	data["Issue"], data["Critical"] = issue, r.WorstSeverity() == audit.Critical
	data["Partner"], data["Domain"], data["Host"] = r.Name, r.Domain, r.Host
	data["Verdict"], data["Severity"], data["Enforced"] = string(r.Verdict), string(r.WorstSeverity()), r.Enforced
	data["Situation"] = string(sit)
	data["Problems"], data["Expiring"] = probs, exp
	data["Attachment"] = file
	return data, nil
}

// render executes a mail template: a "Subject:" line, an empty line, the body.
func render(tpl *templates.Set, name string, data any) (subject, body string, err error) {
	text, err := tpl.Text(name, data)
	if err != nil {
		return "", "", err
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	head, body, ok := strings.Cut(text, "\n\n")
	h, found := cutPrefixFold(head, "Subject:")
	if !ok || !found || strings.Contains(head, "\n") {
		return "", "", fmt.Errorf("templates: %s: want a \"Subject: ...\" line, an empty line, then the body", name)
	}
	subject = strings.TrimSpace(h)
	if subject == "" {
		return "", "", fmt.Errorf("templates: %s: empty subject", name)
	}
	return subject, strings.TrimLeft(body, "\n") + "\n", nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

type attachment struct {
	name, typ string
	data      []byte
}

// message builds one go-mail message to a.
func (c *composer) message(partner string, a *mail.Address, subject, body string, atts []attachment) (*Message, error) {
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(c.sender)
	m.ToMailAddress(a)
	m.Subject(subject)
	m.SetDateWithValue(c.opts.Date)
	m.SetUserAgent("mxaudit")
	id, err := c.messageID(partner, a.Address)
	if err != nil {
		return nil, err
	}
	m.SetMessageIDWithValue(id)
	m.SetGenHeader("X-Mxaudit-Run", c.run)
	if partner != "" {
		m.SetGenHeader("X-Mxaudit-Partner", partner)
	}
	m.SetBodyString(gomail.TypeTextPlain, body)
	out := &Message{Partner: partner, To: a.Address, Subject: subject, ID: id, msg: m}
	for _, at := range atts {
		if err := m.AttachReader(at.name, bytes.NewReader(at.data), gomail.WithFileContentType(gomail.ContentType(at.typ))); err != nil {
			return nil, fmt.Errorf("attachment %s: %w", at.name, err)
		}
		out.Attachments = append(out.Attachments, at.name)
	}
	return out, nil
}

// messageID returns a fresh Message-ID naming the run and partner, at the sender's domain.
func (c *composer) messageID(partner, to string) (string, error) {
	var rnd [9]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(c.run + "\x00" + partner + "\x00" + strings.ToLower(to)))
	domain := c.sender.Address[strings.LastIndexByte(c.sender.Address, '@')+1:]
	return fmt.Sprintf("mxaudit.%s.%s@%s", hex.EncodeToString(h[:6]), hex.EncodeToString(rnd[:]), domain), nil
}

// onlyPartner returns a copy of res holding partner i alone, with the private roots it uses or declares.
func onlyPartner(res *audit.Results, i int) *audit.Results {
	r := res.Partners[i]
	one := *res
	one.Partners = []audit.Result{r}
	one.InventoryErrors, one.Changes, one.PrivateRoots = nil, nil, nil
	for _, pr := range res.PrivateRoots {
		if slices.Contains(pr.UsedBy, r.Name) || slices.Contains(pr.DeclaredBy, r.Name) {
			pr.UsedBy, pr.DeclaredBy = only(pr.UsedBy, r.Name), only(pr.DeclaredBy, r.Name)
			one.PrivateRoots = append(one.PrivateRoots, pr)
		}
	}
	return &one
}

func only(names []string, name string) []string {
	if slices.Contains(names, name) {
		return []string{name}
	}
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
