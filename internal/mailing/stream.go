package mailing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/reports"
	"github.com/mxaudit/mxaudit/templates"
)

// Batch is what ComposeFrom decided for one partner name (its messages, one
// per address, or why it gets none) or for the owner.
type Batch struct {
	Partner  string // "" for the owner's messages
	Messages []*Message
	Skip     *Skip
}

// MaxOwnerList caps each list of partners in the owner's message (mailed,
// not mailed); the rest are counted, and the output of mail lists every one.
const MaxOwnerList = 500

// ownerListCap is MaxOwnerList; tests lower it.
var ownerListCap = MaxOwnerList

// ComposeFrom composes what Compose composes, from a run given as its head
// (its Partners nil, or the run itself) and its partners read in passes,
// handing fn each partner's batch as soon as it is composed, in the order of
// the partners' first rows, then the owner's: one partner's messages are
// held at a time. A first pass checks Options.Partners and counts the
// partners, so an error returned before fn was first called means nothing
// was composed. An error of fn ends it and is returned as it is.
//
// Rows of one name are one partner: consecutive rows are gathered as they
// come; rows of one name scattered through the run (results.json of schema
// 1) are gathered in a pass of their own, held until their partner's turn.
func ComposeFrom(head *audit.Results, partners audit.Each, opts Options, fn func(Batch) error) error {
	c, err := newStream(head, opts)
	if err != nil {
		return err
	}
	sv, err := surveyRun(partners, opts.Partners)
	if err != nil {
		return err
	}
	if len(sv.unknown) > 0 {
		return &UnknownPartnerError{Names: sv.unknown}
	}
	held := map[string][]audit.Result{} // the rows of scattered names, by name
	if len(sv.scattered) > 0 {
		err := partners(func(r *audit.Result) error {
			if sv.scattered[r.Name] {
				cp, err := clone(r)
				held[r.Name] = append(held[r.Name], cp)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	c.emit = fn
	var cur []audit.Result // the consecutive rows of the partner under way
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		rows := cur
		cur = nil
		return c.partner(rows)
	}
	err = partners(func(r *audit.Result) error {
		switch {
		case sv.scattered[r.Name]:
			rows := held[r.Name]
			if rows == nil {
				return nil // composed at its first row
			}
			held[r.Name] = nil
			if err := flush(); err != nil {
				return err
			}
			return c.partner(rows)
		case sv.multi[r.Name]:
			if len(cur) > 0 && cur[0].Name != r.Name {
				if err := flush(); err != nil {
					return err
				}
			}
			cp, err := clone(r)
			cur = append(cur, cp)
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		return c.partner([]audit.Result{*r})
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	return c.owner(partners, sv)
}

// clone returns a copy of r sharing nothing with it, to keep past the call that gave r.
func clone(r *audit.Result) (audit.Result, error) {
	var out audit.Result
	b, err := json.Marshal(r)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return out, fmt.Errorf("partner %s: %w", r.Name, err)
	}
	return out, nil
}

// nameKey is a 128-bit hash standing for a name in the sets kept per
// partner: 16 bytes whatever the name's length.
type nameKey [16]byte

func keyOf(s string) nameKey {
	h := fnv.New128a()
	h.Write([]byte(s))
	var k nameKey
	h.Sum(k[:0])
	return k
}

// survey is what the first pass over the partners tells.
type survey struct {
	names     int             // distinct partner names
	servers   int             // targets (a row without targets counts as one)
	multi     map[string]bool // names with several consecutive rows
	scattered map[string]bool // names whose rows are not all consecutive
	unknown   []string        // of Options.Partners, the names no row has
}

// surveyRun counts the partners and finds the names with several rows; it
// keeps 16 bytes per distinct name, for the pass only.
func surveyRun(partners audit.Each, asked []string) (survey, error) {
	sv := survey{multi: map[string]bool{}, scattered: map[string]bool{}}
	seen := map[nameKey]struct{}{}
	found := map[string]bool{}
	prev, first := "", true
	err := partners(func(r *audit.Result) error {
		sv.servers += max(1, len(r.Targets))
		k := keyOf(r.Name)
		switch _, ok := seen[k]; {
		case !ok:
			seen[k] = struct{}{}
			sv.names++
		case !first && r.Name == prev:
			sv.multi[r.Name] = true
		default:
			sv.scattered[r.Name] = true
		}
		if slices.Contains(asked, r.Name) {
			found[r.Name] = true
		}
		prev, first = r.Name, false
		return nil
	})
	for n := range sv.scattered {
		delete(sv.multi, n)
	}
	for _, n := range asked {
		if !found[n] {
			sv.unknown = append(sv.unknown, n)
		}
	}
	return sv, err
}

// fileNamer gives each partner its per-partner PDF file name, as
// reports.PartnerFileNames does for a run held whole, from the names in the
// order of their first rows: it keeps 16 bytes per name.
type fileNamer struct{ taken map[nameKey]struct{} }

func (n *fileNamer) next(partner string) string {
	one := audit.Results{Partners: []audit.Result{{Partner: audit.Partner{Name: partner}}}}
	base := strings.TrimSuffix(reports.PartnerFileNames(&one)[0], ".pdf")
	name := base + ".pdf"
	for i := 2; n.has(name); i++ {
		name = fmt.Sprintf("%s-%d.pdf", base, i)
	}
	n.taken[keyOf(strings.ToLower(name))] = struct{}{}
	return name
}

func (n *fileNamer) has(name string) bool {
	_, ok := n.taken[keyOf(strings.ToLower(name))]
	return ok
}

// stream is ComposeFrom under way: what every partner's message needs, and the owner's counts.
type stream struct {
	composer
	head    *audit.Results
	owners  []*mail.Address
	th      audit.Thresholds
	tpl     *templates.Set
	now     time.Time
	common  map[string]any
	files   fileNamer
	changes map[string][]int // indexes of head.Changes, by partner
	emit    func(Batch) error

	counts                 map[Situation]int
	expiringSoon, unprobed int
	sent, notSent          []mailed
	sentMore, notSentMore  int
}

// newStream checks the sender and owner addresses and sets up what every message shares.
func newStream(head *audit.Results, opts Options) (*stream, error) {
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
	th := head.RunThresholds()
	if opts.ExpiringDays == 0 {
		opts.ExpiringDays = th.ExpiryWarningDays
	}
	if opts.Reports.Templates == nil {
		opts.Reports.Templates = templates.Default()
	}
	if opts.Date.IsZero() {
		opts.Date = time.Now()
	}
	if opts.Run == "" {
		opts.Run = RunKey(head)
	}
	now := head.Started.UTC()
	common, err := commonData(opts.Reports.Templates, opts.Reports.Org, now)
	if err != nil {
		return nil, err
	}
	c := &stream{composer: composer{opts: opts, sender: sender, run: opts.Run}, head: head, owners: owners, th: th,
		tpl: opts.Reports.Templates, now: now, common: common, files: fileNamer{taken: map[nameKey]struct{}{}},
		changes: map[string][]int{}, counts: map[Situation]int{}}
	for i, ch := range head.Changes {
		c.changes[ch.Partner] = append(c.changes[ch.Partner], i)
	}
	return c, nil
}

// partner composes the messages of the partner whose rows (one name) are rows, or says why it gets none.
func (c *stream) partner(rows []audit.Result) error {
	name := rows[0].Name
	file := c.files.next(name)
	results := make([]*audit.Result, len(rows))
	for i := range rows {
		results[i] = &rows[i]
	}
	trows := targetRows(results)
	a, err := Assess(trows, c.head.PrivateRoots, c.now, c.opts.ExpiringDays, c.th, c.tpl)
	if err != nil {
		return fmt.Errorf("partner %s: %w", name, err)
	}
	if a.Probed == 0 {
		c.unprobed++
	} else {
		c.counts[a.Situation]++
		if a.ExpiringSoon {
			c.expiringSoon++
		}
	}
	skip := func(reason string, failed bool) error {
		c.list(&c.notSent, &c.notSentMore, mailed{Partner: name, Reason: reason})
		return c.emit(Batch{Partner: name, Skip: &Skip{Partner: name, Reason: reason, Failed: failed}})
	}
	contacts := contactsOf(trows)
	switch {
	case c.opts.Partners != nil && !slices.Contains(c.opts.Partners, name):
		return nil // not asked for: not even worth a line
	case a.Probed == 0:
		return skip("not probed (the run was interrupted)", false)
	case c.opts.OnlyFailing && a.Situation != Failing:
		return nil
	case len(contacts) == 0:
		return skip("no contact in the inventory", false)
	}
	var to []*mail.Address
	for _, ct := range contacts {
		as, err := SplitContacts(ct)
		if err != nil {
			return skip("contact: "+err.Error(), true)
		}
		for _, ad := range as {
			if !slices.ContainsFunc(to, func(x *mail.Address) bool { return strings.EqualFold(x.Address, ad.Address) }) {
				to = append(to, ad)
			}
		}
	}
	if len(to) == 0 {
		return nil
	}
	atts, err := c.attachments(rows, file)
	if err != nil {
		return fmt.Errorf("partner %s: %w", name, err)
	}
	subject, body, err := render(c.tpl, "mail-"+string(a.Situation)+".tmpl", c.partnerData(c.common, trows, a, file))
	if err != nil {
		return fmt.Errorf("partner %s: %w", name, err)
	}
	b := Batch{Partner: name}
	var addrs []string
	hosts := rowKeys(trows)
	for _, ad := range to {
		m, err := c.message(name, ad, subject, body, atts)
		if err != nil {
			return fmt.Errorf("partner %s: %w", name, err)
		}
		m.Situation, m.Hosts = a.Situation, hosts
		b.Messages = append(b.Messages, m)
		addrs = append(addrs, ad.Address)
	}
	c.list(&c.sent, &c.sentMore, mailed{Partner: name, Situation: string(a.Situation), To: strings.Join(addrs, ", ")})
	return c.emit(b)
}

// list adds m to an owner's list, or counts it once the list is full.
func (c *stream) list(l *[]mailed, more *int, m mailed) {
	if len(c.owners) == 0 {
		return
	}
	if len(*l) >= ownerListCap {
		*more++
		return
	}
	*l = append(*l, m)
}

// attachments renders the partner's own PDF (and workbook) from its rows alone.
func (c *stream) attachments(rows []audit.Result, file string) ([]attachment, error) {
	one := *c.head
	one.Partners = rows
	one.Changes = nil
	for _, i := range c.changes[rows[0].Name] {
		one.Changes = append(one.Changes, c.head.Changes[i])
	}
	var pdf bytes.Buffer
	if err := reports.PartnerPDF(&pdf, &one, rows[0].Name, c.opts.Reports); err != nil {
		return nil, err
	}
	atts := []attachment{{name: file, typ: TypePDF, data: pdf.Bytes()}}
	if c.opts.XLSX {
		var x bytes.Buffer
		if err := reports.PartnerXLSX(&x, &one, rows[0].Name, c.opts.Reports); err != nil {
			return nil, fmt.Errorf("workbook: %w", err)
		}
		atts = append(atts, attachment{name: strings.TrimSuffix(file, ".pdf") + ".xlsx", typ: TypeXLSX, data: x.Bytes()})
	}
	return atts, nil
}

// owner composes the owner's messages: the summary counted over the partners, the full report and workbook.
func (c *stream) owner(partners audit.Each, sv survey) error {
	if len(c.owners) == 0 {
		return nil
	}
	pdf, xlsx, err := ownerReports(c.head, partners, c.opts.Reports)
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	data := c.common
	data["Partners"], data["Servers"] = sv.names, sv.servers
	data["Failing"], data["AllGood"], data["RootSuccessor"] = c.counts[Failing], c.counts[AllGood], c.counts[RootSuccessor]
	data["Expiring"] = c.expiringSoon
	data["NotProbed"] = c.unprobed
	data["ExpiringDays"] = c.opts.ExpiringDays
	data["Incomplete"] = c.head.Incomplete
	data["Finished"] = reports.Stamp(c.head.Finished)
	data["Mailed"], data["NotMailed"] = c.sent, c.notSent
	data["MailedMore"], data["NotMailedMore"] = c.sentMore, c.notSentMore
	data["PDF"], data["XLSX"] = reports.FilePDF, reports.FileXLSX
	subject, body, err := render(c.tpl, "mail-owner.tmpl", data)
	if err != nil {
		return fmt.Errorf("owner: %w", err)
	}
	atts := []attachment{
		{name: reports.FilePDF, typ: TypePDF, data: pdf},
		{name: reports.FileXLSX, typ: TypeXLSX, data: xlsx},
	}
	b := Batch{}
	for _, a := range c.owners {
		m, err := c.message("", a, subject, body, atts)
		if err != nil {
			return fmt.Errorf("owner: %w", err)
		}
		m.Owner = true
		b.Messages = append(b.Messages, m)
	}
	return c.emit(b)
}

// ownerReports renders the full report and workbook the owner gets, from
// the partners read in passes.
func ownerReports(head *audit.Results, partners audit.Each, opts reports.Options) (pdf, xlsx []byte, err error) {
	seq, first := partners.Seq()
	var p, x bytes.Buffer
	if err := reports.WritePDFFrom(&p, head, seq, opts); err != nil {
		return nil, nil, err
	}
	if err := reports.WriteXLSXFrom(&x, head, seq, opts); err != nil {
		return nil, nil, err
	}
	if err := first(); err != nil {
		return nil, nil, err
	}
	return p.Bytes(), x.Bytes(), nil
}
