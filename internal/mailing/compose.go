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
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// MIME types of the attachments.
const (
	TypePDF  = "application/pdf"
	TypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

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
	ExpiringDays int             // 0 means the run's expiry_warning_days (audit.Thresholds)
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
	Hosts       []string  // the partner's rows the message covers, as host:port
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

// mailed is one line of the owner's lists.
type mailed struct{ Partner, Situation, To, Reason string }

// Compose builds the messages for res: one per partner name and address,
// covering every inventory row of that name (a partner listed with two MX
// hosts gets one message and one PDF about both). The partners' PDFs are
// rendered once each; a partner with several addresses gets one message
// per address, so that one refused address does not keep the others from
// their report. It is ComposeFrom with every message kept.
func Compose(res *audit.Results, opts Options) (*Plan, error) {
	plan := &Plan{Run: opts.Run}
	if plan.Run == "" {
		plan.Run = RunKey(res)
	}
	err := ComposeFrom(res, audit.EachOf(res), opts, func(b Batch) error {
		if b.Skip != nil {
			plan.Skipped = append(plan.Skipped, *b.Skip)
		}
		plan.Messages = append(plan.Messages, b.Messages...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// contactsOf returns the distinct non-empty contact fields of rows, in order.
func contactsOf(rows []*audit.Result) []string {
	var out []string
	for _, r := range rows {
		if c := strings.TrimSpace(r.Contact); c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// rowKeys names the rows a partner's message covers, as host:port, in order.
func rowKeys(rows []*audit.Result) []string {
	var out []string
	for _, r := range rows {
		out = appendNew(out, net.JoinHostPort(r.Host, strconv.Itoa(r.Port)))
	}
	return out
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

// partnerData is the template data of a partner's message.
func (c *composer) partnerData(common map[string]any, rows []*audit.Result, a Assessment, file string) map[string]any {
	data := make(map[string]any, len(common)+20)
	for k, v := range common {
		data[k] = v
	}
	var all, domains, verdicts []string
	enforced, critical := false, false
	worst := audit.Info
	for _, r := range rows {
		if r.Verdict == audit.NotProbed {
			continue
		}
		all, domains = appendNew(all, r.Host), appendNew(domains, r.Domain)
		verdicts = append(verdicts, string(r.Verdict))
		enforced = enforced || r.Enforced
	}
	for _, p := range a.Problems {
		critical = critical || p.Severity == audit.Critical
		if p.Severity.Level() > worst.Level() {
			worst = p.Severity
		}
	}
	// The hosts the message is about: those with problems, expiring certificates or our root, else all.
	var about []string
	switch a.Situation {
	case Failing:
		for _, p := range a.Problems {
			about = appendNew(about, p.Host)
		}
	case RootSuccessor:
		for _, q := range a.Roots {
			for _, h := range q.Hosts {
				about = appendNew(about, h)
			}
		}
	case Expiring:
		for _, e := range a.Expiring {
			about = appendNew(about, e.Host)
		}
	}
	if len(about) == 0 {
		about = all
	}
	// One line per row, for a partner listed with several mail servers.
	type row struct {
		Host, Port string
		Issues     []string // the problems' issues on this host
		Expiring   bool     // a certificate of this host's chain expires soon
	}
	var lines []row
	for _, r := range rows {
		if r.Verdict == audit.NotProbed {
			continue
		}
		l := row{Host: r.Host, Port: strconv.Itoa(r.Port),
			Expiring: slices.ContainsFunc(a.Expiring, func(e ExpiringCert) bool { return e.Host == r.Host })}
		for _, p := range a.Problems {
			if p.Host == r.Host {
				l.Issues = appendNew(l.Issues, p.Issue)
			}
		}
		lines = append(lines, l)
	}
	data["Rows"] = lines
	issue := ""
	if len(a.Problems) > 0 {
		issue = a.Problems[0].Issue
	}
	data["Partner"], data["Domain"] = rows[0].Name, strings.Join(domains, ", ")
	data["Host"], data["Several"], data["Hosts"], data["AllHosts"] = strings.Join(about, ", "), len(about) > 1, about, all
	data["Verdict"] = string(audit.Primary(toVerdicts(verdicts)))
	data["Issue"], data["Severity"], data["Critical"], data["Enforced"] = issue, string(worst), critical, enforced
	data["Situation"] = string(a.Situation)
	data["Problems"], data["Expiring"], data["Roots"] = a.Problems, a.Expiring, a.Roots
	data["ExpiringDays"] = c.opts.ExpiringDays
	data["Attachment"] = file
	return data
}

func toVerdicts(ss []string) []audit.Verdict {
	out := make([]audit.Verdict, len(ss))
	for i, s := range ss {
		out[i] = audit.Verdict(s)
	}
	return out
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

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
