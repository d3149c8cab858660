package reports

import (
	"bytes"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"github.com/mxaudit/mxaudit/audit"
)

var (
	colCritical = rgb{176, 0, 32}
	colError    = rgb{222, 84, 37}
	colWarning  = rgb{214, 150, 0}
	colInfo     = rgb{84, 130, 53}
	colGrey     = rgb{128, 128, 128}
	colNavy     = rgb{31, 56, 100}
)

func sevColor(s audit.Severity) rgb {
	switch s {
	case audit.Critical:
		return colCritical
	case audit.Error:
		return colError
	case audit.Warning:
		return colWarning
	}
	return colInfo
}

func statusColor(st string) rgb {
	switch st {
	case audit.RootExpired:
		return colCritical
	case audit.RootExpiring:
		return colWarning
	case audit.RootUnused:
		return colGrey
	}
	return colInfo
}

// WritePDF writes the audit report: cover, executive summary with a chart,
// the changes since the previous run (when there are any), critical and
// error findings with remedies, the private roots lifecycle,
// one detail section per partner with a problem (the first Options.DetailCap,
// most severe first; the rest are counted and referred to the workbook), and
// inventory errors.
func WritePDF(w io.Writer, res *audit.Results, opts Options) error {
	return WritePDFFrom(w, res, PartnersOf(res), opts)
}

// WritePDFFrom writes the audit report as WritePDF does, with the partners
// taken one at a time from partners (the run's results in results order;
// head.Partners is not read): one pass takes every figure and capped list
// the report shows (tally), and the detail sections take one more pass per
// severity they show. Every table that lists partners is capped and says
// how many more there are and which file lists them all.
func WritePDFFrom(w io.Writer, head *audit.Results, partners iter.Seq[*audit.Result], opts Options) error {
	v, err := newHeadView(head, opts, false)
	if err != nil {
		return err
	}
	v.partners = partners
	d, err := newDoc(v, opts)
	if err != nil {
		return err
	}
	if err := d.cover(); err != nil {
		return err
	}
	if err := d.summary(); err != nil {
		return err
	}
	if err := d.changes(true); err != nil {
		return err
	}
	d.findings()
	if err := d.roots(head.PrivateRoots, true); err != nil {
		return err
	}
	d.policies()
	d.vantages(opts.Vantages)
	if err := d.details(); err != nil {
		return err
	}
	d.inventoryErrors()
	d.trustErrors()
	return d.finish(w)
}

// PartnerPDF writes the report for one partner (matched by name) with its
// own findings, chains and remedies only, as sent to that partner: every
// row of the inventory with that name (a partner listed with two MX hosts)
// gets its own section.
func PartnerPDF(w io.Writer, res *audit.Results, partner string, opts Options) error {
	idx := slices.IndexFunc(res.Partners, func(r audit.Result) bool { return r.Name == partner })
	if idx < 0 {
		return fmt.Errorf("pdf: no partner %q in the results", partner)
	}
	return partnerPDF(w, res, idx, opts)
}

// partnerOnly returns a copy of res holding only the rows named partner,
// their changes and the private roots they use or declare, so that nothing
// about other partners can leak into what is sent to this one.
func partnerOnly(res *audit.Results, partner string) (*audit.Results, error) {
	var rows []audit.Result
	for _, r := range res.Partners {
		if r.Name == partner {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no partner %q in the results", partner)
	}
	return partnerHead(res, partner, rows), nil
}

// partnerHead returns a copy of the run head res with rows as its
// partners (the rows named partner), its changes and private roots
// narrowed to that partner, and nothing else about other partners.
func partnerHead(res *audit.Results, partner string, rows []audit.Result) *audit.Results {
	one := *res
	one.Partners = rows
	one.InventoryErrors = nil
	one.TrustErrors = nil
	one.Changes = nil
	for _, c := range res.Changes {
		if c.Partner == partner {
			one.Changes = append(one.Changes, c)
		}
	}
	one.PrivateRoots = nil
	for _, pr := range res.PrivateRoots {
		if slices.Contains(pr.UsedBy, partner) || slices.Contains(pr.DeclaredBy, partner) {
			pr.UsedBy, pr.DeclaredBy = onlyName(pr.UsedBy, partner), onlyName(pr.DeclaredBy, partner)
			one.PrivateRoots = append(one.PrivateRoots, pr)
		}
	}
	return &one
}

// partnerPDF renders the per-partner report of the partner of row idx: that row and every other row of the same name.
func partnerPDF(w io.Writer, res *audit.Results, idx int, opts Options) error {
	one, err := partnerOnly(res, res.Partners[idx].Name)
	if err != nil {
		return err
	}
	return onePartnerPDF(w, one, opts)
}

// onePartnerPDF renders the per-partner report of one, which holds only
// the rows of one partner name (partnerOnly, partnerHead).
func onePartnerPDF(w io.Writer, one *audit.Results, opts Options) error {
	v, err := newViewFor(one, opts, true)
	if err != nil {
		return err
	}
	d, err := newDoc(v, opts)
	if err != nil {
		return err
	}
	if err := d.partnerCover(one.Partners); err != nil {
		return err
	}
	for i := range one.Partners {
		if err := d.detail(i, &one.Partners[i], len(one.Partners) > 1); err != nil {
			return err
		}
	}
	if err := d.changes(false); err != nil {
		return err
	}
	if len(one.PrivateRoots) > 0 {
		if err := d.roots(one.PrivateRoots, false); err != nil {
			return err
		}
	}
	return d.finish(w)
}

func onlyName(names []string, name string) []string {
	if slices.Contains(names, name) {
		return []string{name}
	}
	return nil
}

func newDoc(v *view, opts Options) (*doc, error) {
	reg, bold, err := baseFonts()
	if err != nil {
		return nil, fmt.Errorf("pdf: embedded font: %w", err)
	}
	cjk := opts.CJKFont
	if cjk == nil && !opts.NoFontSearch {
		cjk = SystemCJKFont()
	}
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCreationDate(v.now)
	p.SetModificationDate(v.now)
	p.SetCatalogSort(true)
	p.SetProducer("mxaudit", true)
	p.SetCreator("mxaudit", true)
	p.SetTitle(v.title, true)
	p.SetAuthor(v.org, true)
	p.SetSubject(v.period, true)
	p.AddUTF8FontFromBytes(famBase, "", reg.Data)
	p.AddUTF8FontFromBytes(famBase, "B", bold.Data)
	p.SetMargins(15, 18, 15)
	p.SetAutoPageBreak(false, 0)
	p.SetCellMargin(0)
	p.AliasNbPages("{nb}")
	_, ph := p.GetPageSize()
	d := &doc{p: p, v: v, reg: reg, bold: bold, cjk: cjk, left: 15, top: 18, width: 180, pageH: ph, bottom: ph - 16}
	footer, err := v.tpl.Text("footer.tmpl", map[string]any{"Org": v.org, "Title": v.title, "Period": v.period, "Date": Day(v.now)})
	if err != nil {
		return nil, err
	}
	p.SetHeaderFunc(func() {
		d.invalidate()
		if p.PageNo() > 1 {
			d.setFont("", 7.5)
			d.color(colGrey)
			d.text(d.left, 8, d.width/2, 4, v.title, "L")
			d.text(d.left+d.width/2, 8, d.width/2, 4, v.org, "R")
			d.p.SetDrawColor(200, 200, 200)
			d.p.Line(d.left, 12.5, d.left+d.width, 12.5)
			d.p.SetDrawColor(0, 0, 0)
			d.p.SetTextColor(0, 0, 0)
		}
		p.SetXY(d.left, d.top)
	})
	p.SetFooterFunc(func() {
		d.invalidate()
		style, size := d.style, d.size
		d.setFont("", 7.5)
		d.color(colGrey)
		d.p.SetDrawColor(200, 200, 200)
		d.p.Line(d.left, ph-11.5, d.left+d.width, ph-11.5)
		d.p.SetDrawColor(0, 0, 0)
		d.text(d.left, ph-10.5, d.width-30, 4, footer, "L")
		d.text(d.left+d.width-30, ph-10.5, 30, 4, fmt.Sprintf("Page %d of {nb}", p.PageNo()), "R")
		d.p.SetTextColor(0, 0, 0)
		d.setFont(style, size)
		d.invalidate()
	})
	if v.t == nil || !v.t.scanned { // one pass: the figures, and any text no font can show
		if v.t, err = v.tallyPartners(v.each(), d.missingIn, nil); err != nil {
			return nil, err
		}
		v.t.missing = v.t.missing || d.missingInHead(v.res)
	}
	if v.t.missing {
		v.warn("pdf: some names contain characters that no available font can show (CJK needs a TrueType font: pass --font FILE or install Debian's fonts-droid-fallback); they appear as " + placeholder)
	}
	return d, nil
}

// uncovered reports whether any of ss has a character no loaded font covers.
func (d *doc) uncovered(ss ...string) bool {
	for _, s := range ss {
		for _, r := range s {
			if r > 0x2000 && !d.reg.Covers(r) && !d.cjk.Covers(r) && !unicode_ignorable(r) {
				return true
			}
		}
	}
	return false
}

// missingIn reports whether any text of partner r has a character no loaded font covers.
func (d *doc) missingIn(r *audit.Result) bool {
	check := d.uncovered
	{
		if check(r.Name, r.Domain, r.Host, r.Error, r.Root.Subject) {
			return true
		}
		for _, c := range r.Chain {
			if check(c.Subject, c.Issuer) {
				return true
			}
		}
		for _, f := range r.Findings {
			if check(f.Message, f.Remedy) {
				return true
			}
		}
		for _, s := range r.Details {
			if check(s) {
				return true
			}
		}
	}
	return false
}

// missingInHead reports whether any text of the run head res (changes, private roots) has a character no loaded font covers.
func (d *doc) missingInHead(res *audit.Results) bool {
	check := d.uncovered
	for _, c := range res.Changes {
		if check(c.Partner, c.Before, c.After) {
			return true
		}
	}
	for _, pr := range res.PrivateRoots {
		if check(pr.File, pr.Subject) || check(pr.UsedBy...) || check(pr.DeclaredBy...) {
			return true
		}
	}
	return false
}

func unicode_ignorable(r rune) bool {
	return r == 0x200B || r == 0x200D || r == 0xFE0F || (r >= 0x0300 && r < 0x0370)
}

func (d *doc) finish(w io.Writer) error {
	var buf bytes.Buffer
	if err := d.p.Output(&buf); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("pdf: %w", err)
	}
	return nil
}

func (d *doc) cover() error {
	v, p := d.v, d.p
	d.addPage()
	d.fill(colNavy)
	p.Rect(0, 0, 210, 70, "F")
	if logo, typ := v.tpl.Logo(); logo != nil {
		opt := fpdf.ImageOptions{ImageType: typ}
		p.RegisterImageOptionsReader("logo", opt, bytes.NewReader(logo))
		p.ImageOptions("logo", d.left, 80, 0, 20, false, opt, 0, "")
	}
	p.SetTextColor(255, 255, 255)
	d.setFont("B", 24)
	d.text(d.left, 28, d.width, 12, v.org, "L")
	d.setFont("", 16)
	d.text(d.left, 44, d.width, 8, v.title, "L")
	p.SetTextColor(0, 0, 0)
	d.setFont("B", 14)
	d.text(d.left, 110, d.width, 7, "Report period: "+v.period, "L")
	d.setFont("", 11)
	d.text(d.left, 119, d.width, 6, "Audit run: "+Stamp(v.res.Started), "L")
	scope, err := v.tpl.Text("scope.tmpl", map[string]any{
		"Partners": v.t.partners, "Inventory": v.res.Inventory, "Started": Stamp(v.res.Started),
		"Finished": Stamp(v.res.Finished), "Incomplete": v.res.Incomplete, "PrivateRoots": len(v.res.PrivateRoots),
	})
	if err != nil {
		return err
	}
	p.SetXY(d.left, 132)
	d.setFont("B", 11)
	d.text(d.left, 132, d.width, 6, "Scope", "L")
	p.SetXY(d.left, 139)
	d.para(scope, "", 10, 5)
	if d.missing > 0 || v.t.missing {
		p.Ln(4)
		d.color(colCritical)
		d.para("Some names contain characters that no font available to this report can show; they appear as "+placeholder+". Render again with a CJK TrueType font (--font FILE).", "", 9, 4.5)
		p.SetTextColor(0, 0, 0)
	}
	return nil
}

func (d *doc) summary() error {
	v, p := d.v, d.p
	d.addPage()
	d.heading("Executive summary", 16)
	d.delivery()
	t := v.t
	fs, bySev := t.findings, t.ownWorst
	attention := v.rootsToActOn()
	text, err := v.tpl.Text("summary.tmpl", map[string]any{
		"Partners": t.partners, "Failing": t.failingOwn(), "Critical": bySev[audit.Critical],
		"Errors": bySev[audit.Error], "Warnings": bySev[audit.Warning], "Findings": t.nFindings,
		"RootsAttention": attention, "ExpiringDays": v.th.RootExpiringDays, "InventoryErrors": len(v.res.InventoryErrors),
		"PrivateRoots": len(v.res.PrivateRoots), "ValidWithFindings": t.standing[audit.ValidWithFindings], "Thresholds": v.th,
	})
	if err != nil {
		return err
	}
	d.para(text, "", 10, 5)
	p.Ln(4)
	// Key figures as tiles.
	tiles := []struct {
		label string
		n     int
		c     rgb
	}{
		{"Partners", t.partners, colNavy},
		{"Critical", bySev[audit.Critical], colCritical},
		{"Error", bySev[audit.Error], colError},
		{"Warning", bySev[audit.Warning], colWarning},
		{"Valid", bySev[audit.Info], colInfo},
		{"Roots to act on", attention, colGrey},
	}
	y := p.GetY()
	tw := (d.width - 5*3) / 6
	for i, t := range tiles {
		x := d.left + float64(i)*(tw+3)
		d.fill(t.c)
		p.Rect(x, y, tw, 20, "F")
		p.SetTextColor(255, 255, 255)
		d.setFont("B", 16)
		d.text(x, y+2.5, tw, 9, fmt.Sprint(t.n), "C")
		d.setFont("", 8)
		d.text(x, y+13, tw, 4, t.label, "C")
	}
	p.SetTextColor(0, 0, 0)
	p.SetXY(d.left, y+26)
	d.barChart("Partners by verdict", v.byVerdict())
	d.barChart("Partners by worst severity", v.bySeverity())
	d.setFont("", 8.5)
	d.color(colGrey)
	d.para(fmt.Sprintf("Findings: %d critical, %d error, %d warning, %d info. Severity is critical when mail to a partner on the enforced-TLS list stops.",
		fs[audit.Critical], fs[audit.Error], fs[audit.Warning], fs[audit.Info]), "", 8.5, 4)
	p.SetTextColor(0, 0, 0)
	return nil
}

// barChart draws a horizontal bar chart of counts, one bar per label.
func (d *doc) barChart(title string, counts []count) {
	p := d.p
	const labelW, numW = 42.0, 16.0
	bh, gap, font := 5.0, 1.5, 8.0
	if len(counts) > 16 { // every verdict of a large run: keep the chart on the summary page
		bh, gap, font = 3.6, 0.8, 7
	}
	d.need(12 + float64(len(counts))*(bh+gap))
	d.setFont("B", 10)
	y := p.GetY()
	d.text(d.left, y, d.width, 5, title, "L")
	y += 7
	maxN := 1
	for _, c := range counts {
		maxN = max(maxN, c.N)
	}
	barW := d.width - labelW - numW
	for _, c := range counts {
		d.setFont("", font)
		d.text(d.left, y, labelW-2, bh, c.Label, "R")
		w := barW * float64(c.N) / float64(maxN)
		if c.N > 0 {
			w = max(w, 0.6)
			col := sevColor(c.Sev)
			if c.Label == string(audit.NotProbed) {
				col = colGrey
			}
			d.fill(col)
			p.Rect(d.left+labelW, y+0.5, w, bh-1, "F")
		}
		d.text(d.left+labelW+w+1.5, y, numW, bh, fmt.Sprint(c.N), "L")
		y += bh + gap
	}
	p.SetDrawColor(160, 160, 160)
	p.Line(d.left+labelW, y-float64(len(counts))*(bh+gap)-0.5, d.left+labelW, y-gap+0.5)
	p.SetDrawColor(0, 0, 0)
	p.SetXY(d.left, y+4)
}

// changeColor is the colour of a change kind's badge: red for a worse
// verdict, green for a recovery, amber for an expiry threshold, navy otherwise.
func changeColor(kind string) rgb {
	switch kind {
	case "verdict_worse":
		return colCritical
	case "verdict_recovered":
		return colInfo
	case "expiry_threshold":
		return colWarning
	case "partner_removed":
		return colGrey
	}
	return colNavy
}

// changes writes the section "Changes since the previous run", grouped by
// kind with what each kind means for mail flow; nothing when there are no changes.
func (d *doc) changes(newPage bool) error {
	v, p := d.v, d.p
	if len(v.res.Changes) == 0 {
		return nil
	}
	groups, err := v.changeGroups()
	if err != nil {
		return err
	}
	intro, err := v.tpl.Text("changes-intro.tmpl", map[string]any{
		"SinceRun": v.res.Changes[0].SinceRun, "Count": len(v.res.Changes), "Partners": v.changedPartners(),
	})
	if err != nil {
		return err
	}
	if newPage {
		d.addPage()
	} else {
		p.Ln(3)
	}
	d.heading("Changes since the previous run", 16)
	d.para(intro, "", 9.5, 4.8)
	for _, g := range groups {
		d.need(30)
		p.Ln(2)
		y := p.GetY()
		d.fill(changeColor(g.kind))
		p.Rect(d.left, y, 2, 6, "F")
		d.setFont("B", 11)
		d.text(d.left+4, y, d.width-44, 6, fmt.Sprintf("%s — %d partner%s", g.label, len(g.items), plural(len(g.items))), "L")
		d.setFont("", 8)
		d.color(colGrey)
		d.text(d.left+d.width-40, y+0.5, 40, 5, g.kind, "R")
		p.SetTextColor(0, 0, 0)
		p.SetXY(d.left, y+7.5)
		d.para(g.meaning, "", 9, 4.5)
		p.Ln(1)
		items := g.items[:min(len(g.items), maxListRows)]
		d.table([]tcol{{"Partner", 40, "L", true}, {"Before", 65, "L", true}, {"After", 65, "L", true}, {"Run", 10, "R", false}},
			len(items), func(i int) ([]string, []mark) {
				c := items[i]
				before, after := c.Before, c.After
				if before == "" {
					before = "–"
				}
				if after == "" {
					after = "–"
				}
				return []string{c.Partner, before, after, fmt.Sprint(c.SinceRun)}, nil
			})
		d.more(len(g.items)-len(items), "change", FileChangesCSV)
	}
	return nil
}

// findings writes the critical and error findings grouped by problem and
// remedy, each group's table capped at maxListRows partners.
func (d *doc) findings() {
	v, p := d.v, d.p
	d.addPage()
	d.heading("Critical and error findings", 16)
	intro, err := v.tpl.Text("findings-intro.tmpl", nil)
	if err == nil {
		d.para(intro, "", 9.5, 4.8)
	}
	if len(v.t.groups) == 0 {
		p.Ln(2)
		d.para("No critical or error findings.", "B", 10, 5)
		return
	}
	for _, g := range v.t.groups {
		d.need(30)
		p.Ln(2)
		y := p.GetY()
		d.fill(sevColor(g.sev))
		p.Rect(d.left, y, 20, 6, "F")
		p.SetTextColor(255, 255, 255)
		d.setFont("B", 8)
		d.text(d.left, y+0.5, 20, 5, strings.ToUpper(string(g.sev)), "C")
		p.SetTextColor(0, 0, 0)
		d.setFont("B", 11)
		d.text(d.left+23, y, d.width-23, 6, fmt.Sprintf("%s — %s partner%s", g.issue, thousands(g.n), plural(g.n)), "L")
		p.SetXY(d.left, y+8)
		if g.remedy != "" {
			d.para("What to do: "+g.remedy, "", 9, 4.5)
			p.Ln(1)
		}
		items := g.items
		d.table([]tcol{{"Partner", 45, "L", true}, {"Domain", 35, "L", true}, {"Host", 40, "L", true}, {"Detail", 60, "L", true}},
			len(items), func(i int) ([]string, []mark) {
				it := items[i]
				return []string{it.partner, it.domain, it.host, it.message}, nil
			})
		d.more(g.n-len(items), "partner", FileFindingsCSV+" and the "+SheetFindings+" sheet of "+FileXLSX)
	}
	for _, sev := range severities {
		if n := v.t.groupsLeft[sev]; n > 0 {
			d.p.Ln(2)
			d.para(fmt.Sprintf("... and %s more %s finding%s of other problems: see %s and the %s sheet of %s.",
				thousands(n), sev, plural(n), FileFindingsCSV, SheetFindings, FileXLSX), "B", 9, 4.5)
		}
	}
}

// tableTitle writes the bold title of a table that follows, on the page the table starts on.
func (d *doc) tableTitle(title string) {
	d.setFont("B", 9)
	d.need(14)
	d.text(d.left, d.p.GetY(), d.width, 5, title, "L")
	d.p.SetXY(d.left, d.p.GetY()+5.5)
}

// more writes, under a capped table, how many more rows (of what) were left out and where they all are.
func (d *doc) more(n int, what, where string) {
	if n <= 0 {
		return
	}
	d.p.Ln(1)
	d.para(fmt.Sprintf("... and %s more %s%s: see %s.", thousands(n), what, plural(n), where), "B", 8.5, 4.2)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// roots writes the private roots lifecycle table sorted by expiry.
func (d *doc) roots(roots []audit.PrivateRoot, newPage bool) error {
	return d.rootsTable(roots, newPage, nil)
}

func (d *doc) rootsTable(roots []audit.PrivateRoot, newPage bool, errs []LoadError) error {
	v, p := d.v, d.p
	if newPage {
		d.addPage()
	}
	d.heading("Private roots lifecycle", 16)
	intro, err := v.tpl.Text("roots-intro.tmpl", map[string]any{"ExpiringDays": v.th.RootExpiringDays})
	if err != nil {
		return err
	}
	d.para(intro, "", 9.5, 4.8)
	p.Ln(2)
	sorted := sortedRoots(roots)
	if len(sorted) == 0 {
		d.para("No private roots were imported.", "B", 10, 5)
	}
	actions := make([]string, len(sorted))
	for i, r := range sorted {
		if actions[i], err = v.rootAction(r); err != nil {
			return err
		}
	}
	if len(sorted) > 0 {
		d.table([]tcol{
			{"File", 26, "L", true}, {"Subject", 36, "L", true}, {"Not after", 19, "L", false}, {"Days", 10, "R", false},
			{"Status", 16, "C", false}, {"Used by", 27, "L", true}, {"Action", 46, "L", true},
		}, len(sorted), func(i int) ([]string, []mark) {
			r := sorted[i]
			st := v.rootStatus(r)
			used := joinCapped(r.UsedBy, 400)
			if used == "" {
				used = "–"
			}
			return []string{r.File, r.Subject, Day(r.NotAfter), fmt.Sprint(r.DaysLeft), st, used, actions[i]},
				[]mark{{4, statusColor(st)}}
		})
	}
	if len(errs) > 0 {
		d.heading("Files that could not be read", 12)
		d.table([]tcol{{"File", 60, "L", true}, {"Error", 120, "L", true}}, len(errs), func(i int) ([]string, []mark) {
			return []string{errs[i].File, errs[i].Message}, nil
		})
	}
	return nil
}

// details writes one section per partner with a problem, most severe
// first and in results order within a severity, up to the view's cap: one
// pass over the partners per severity shown, so that no result is held.
func (d *doc) details() error {
	v := d.v
	quota, more := v.t.detailQuota(v.detailCap)
	d.addPage()
	d.heading("Partner details", 16)
	intro, err := v.tpl.Text("details-intro.tmpl", nil)
	if err != nil {
		return err
	}
	d.para(intro, "", 9.5, 4.8)
	if v.t.failingOwn() == 0 {
		d.para("Every partner passed.", "B", 10, 5)
	}
	for _, sev := range severities {
		if quota[sev] == 0 {
			continue
		}
		left, i := quota[sev], 0
		for r := range v.each() {
			if r.WorstSeverity() == sev {
				if err = d.detail(i, r, true); err != nil {
					break
				}
				if left--; left == 0 {
					break
				}
			}
			i++
		}
		if err != nil {
			return err
		}
	}
	if more > 0 {
		d.need(15)
		d.p.Ln(4)
		d.para(fmt.Sprintf("... %s more partner%s with a problem: see the %s and %s sheets of %s.",
			thousands(more), plural(more), SheetPartners, SheetFindings, FileXLSX), "B", 10, 5)
	}
	return nil
}

// thousands writes n with a comma between each group of three digits (12,345).
func thousands(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// detail writes the section of partner r (index i): facts, verdicts and findings, chain and remedies.
func (d *doc) detail(i int, r *audit.Result, withHeading bool) error {
	v, p := d.v, d.p
	fs, err := v.appendFindings(nil, i, r)
	if err != nil {
		return err
	}
	slices.SortStableFunc(fs, func(a, b Finding) int { return b.Severity.Level() - a.Severity.Level() })
	sev := v.worstTold(r, fs)
	d.need(45)
	p.Ln(3)
	y := p.GetY()
	if withHeading {
		d.p.SetDrawColor(sevColor(sev).r, sevColor(sev).g, sevColor(sev).b)
		d.p.SetLineWidth(0.8)
		d.p.Line(d.left, y, d.left, y+11)
		d.p.SetLineWidth(0.2)
		d.p.SetDrawColor(0, 0, 0)
		d.setFont("B", 12)
		heading := r.Name
		if v.forPartner { // the sections of one partner's report are its hosts
			heading = hostPort(r)
		}
		d.text(d.left+3, y, d.width-30, 6, heading, "L")
		d.fill(sevColor(sev))
		p.Rect(d.left+d.width-22, y, 22, 5.5, "F")
		p.SetTextColor(255, 255, 255)
		d.setFont("B", 8)
		d.text(d.left+d.width-22, y+0.3, 22, 5, strings.ToUpper(string(sev)), "C")
		p.SetTextColor(0, 0, 0)
		y += 6.5
	}
	enf := "not enforced"
	if r.Enforced {
		enf = "TLS enforced"
	}
	tls := strings.ToUpper(string(r.TLS))
	if r.TLS == audit.StartTLS {
		tls = "STARTTLS"
	}
	facts := fmt.Sprintf("%s · %s:%d · %s · %s", r.Domain, r.Host, r.Port, tls, enf)
	if r.Host == "" { // nothing to probe: the domain's DNS failed
		facts = fmt.Sprintf("%s · port %d · %s · %s", r.Domain, r.Port, tls, enf)
	}
	if r.TLSVersion != "" {
		facts += " · " + r.TLSVersion
		if r.Cipher != "" {
			facts += " " + r.Cipher
		}
	}
	d.setFont("", 8.5)
	d.color(colGrey)
	d.text(d.left+3, y, d.width-3, 4.5, facts, "L")
	p.SetTextColor(0, 0, 0)
	p.SetXY(d.left, y+6)
	if dl := r.Delivery; dl != nil {
		rule := dl.Rule
		if v.forPartner { // our file paths are our side
			rule = ourPaths.ReplaceAllString(rule, "${1}(our file)")
		}
		d.para(fmt.Sprintf("Our mail: %s. %s", dl.Outcome, rule), "B", 8.5, 4.2)
		if dl.WhatIfOutcome != "" && dl.WhatIfOutcome != dl.Outcome && !v.forPartner {
			d.para(fmt.Sprintf("Under %s: %s. %s", dl.WhatIfPolicy, dl.WhatIfOutcome, dl.WhatIfRule), "", 8.5, 4.2)
		}
	}
	d.targetsTable(r)

	if len(fs) == 0 {
		d.para("Valid: nothing to change.", "B", 9, 4.5)
	} else {
		d.table([]tcol{{"Severity", 18, "C", false}, {"Verdict / check", 32, "L", false}, {"Detail", 130, "L", true}},
			len(fs), func(k int) ([]string, []mark) {
				return []string{string(fs[k].Severity), fs[k].Issue, fs[k].Message}, []mark{{0, sevColor(fs[k].Severity)}}
			})
	}
	if r.Error != "" && len(r.Chain) == 0 {
		d.para("Error: "+r.Error, "", 8.5, 4.2)
	}
	if len(r.Chain) > 0 {
		d.tableTitle("Chain presented")
		d.table([]tcol{{"#", 6, "R", false}, {"Subject", 50, "L", true}, {"Issuer", 50, "L", true}, {"Not after", 20, "L", false}, {"SHA-1 thumbprint", 54, "L", true}},
			len(r.Chain), func(k int) ([]string, []mark) {
				c := r.Chain[k]
				var m []mark
				if c.NotAfter.Before(v.now) {
					m = []mark{{3, colCritical}}
				}
				return []string{fmt.Sprint(k), c.Subject, c.Issuer, Day(c.NotAfter), c.SHA1}, m
			})
	}
	d.keyTypes(r)
	if r.Root.Store != "" {
		root := "Trust anchor: "
		switch r.Root.Store {
		case audit.RootNone:
			root += "none (the chain ends in no trusted root)"
		default:
			root += r.Root.Subject + " (" + r.Root.Store
			if r.Root.File != "" {
				root += ", " + r.Root.File
			}
			if !r.Root.NotAfter.IsZero() {
				root += ", expires " + Day(r.Root.NotAfter)
			}
			root += ")"
		}
		d.para(root, "", 8.5, 4.2)
	}
	if rev, until := revocationFacts(r); rev != "" {
		line := "Revocation: " + rev
		if !until.IsZero() {
			line += ", answer valid until " + Day(until)
		}
		if r.Revocation.Detail != "" && r.Revocation.Status != "good" {
			line += " (" + r.Revocation.Detail + ")"
		}
		d.para(line, "", 8.5, 4.2)
	}
	var rems []string
	for _, f := range fs {
		if f.Remedy != "" && !slices.Contains(rems, f.Remedy) {
			rems = append(rems, f.Remedy)
		}
	}
	if len(rems) > 0 {
		p.Ln(1)
		d.setFont("B", 9)
		d.need(10)
		d.text(d.left, p.GetY(), d.width, 5, "What to do", "L")
		p.SetXY(d.left, p.GetY()+5)
		for _, rem := range rems {
			d.para("• "+rem, "", 8.5, 4.2)
		}
	}
	return nil
}

func (d *doc) inventoryErrors() {
	errs := d.v.res.InventoryErrors
	if len(errs) == 0 {
		return
	}
	d.p.Ln(4)
	d.heading("Inventory rows not audited", 14)
	d.table([]tcol{{"File", 40, "L", true}, {"Line", 12, "R", false}, {"Column", 25, "L", false}, {"Message", 103, "L", true}},
		len(errs), func(i int) ([]string, []mark) {
			e := errs[i]
			return []string{e.File, fmt.Sprint(e.Line), e.Column, e.Message}, nil
		})
}

func (d *doc) trustErrors() {
	errs := d.v.res.TrustErrors
	if len(errs) == 0 {
		return
	}
	d.p.Ln(4)
	d.heading("Trust files not read", 14)
	d.para("Partners whose root is in one of these files may show UntrustedRoot or PartialChain because of it.", "", 9, 4.5)
	d.table([]tcol{{"File", 80, "L", true}, {"Reason", 100, "L", true}},
		len(errs), func(i int) ([]string, []mark) {
			return []string{errs[i].File, errs[i].Message}, nil
		})
}

// partnerCover writes the first part of a per-partner report.
func (d *doc) partnerCover(rows []audit.Result) error {
	v, p := d.v, d.p
	r := &rows[0]
	d.addPage()
	d.fill(colNavy)
	p.Rect(0, 0, 210, 42, "F")
	p.SetTextColor(255, 255, 255)
	d.setFont("B", 18)
	d.text(d.left, 12, d.width, 9, v.org, "L")
	d.setFont("", 12)
	d.text(d.left, 24, d.width, 6, v.title+" · "+v.period, "L")
	p.SetTextColor(0, 0, 0)
	p.SetXY(d.left, 52)
	d.setFont("B", 16)
	d.text(d.left, 52, d.width, 8, r.Name, "L")
	p.SetXY(d.left, 63)
	intro, err := v.tpl.Text("partner-intro.tmpl", map[string]any{
		"Org": v.org, "Partner": r.Name, "Domain": r.Domain, "Host": r.Host, "Started": Stamp(v.res.Started), "Period": v.period,
	})
	if err != nil {
		return err
	}
	d.para(intro, "", 10, 5)
	p.Ln(2)
	worst := 0
	for k := range rows {
		if a, b := v.severityOf(k), v.severityOf(worst); a.Level() > b.Level() || a == b && rows[k].Verdict.Rank() < rows[worst].Verdict.Rank() {
			worst = k
		}
	}
	verdict := fmt.Sprintf("Result: %s (%s)", rows[worst].Verdict, v.severityOf(worst))
	if len(rows) > 1 {
		verdict = fmt.Sprintf("Result: %s (%s), the worst of %d mail servers", rows[worst].Verdict, v.severityOf(worst), len(rows))
	}
	d.para(verdict, "B", 11, 6)
	return nil
}

// maxDeliveryLines caps the partners the summary names whose mail does not flow.
const maxDeliveryLines = 12

// delivery leads the summary with "will mail flow?": per policy source,
// where our MTA's mail stops today and under the what-if policy, and the
// partners whose mail stops, with our MTA's rule.
func (d *doc) delivery() {
	t := d.v.t
	groups := t.delivery.Groups()
	if len(groups) == 0 {
		return
	}
	for _, g := range groups {
		d.para(g.String()+".", "B", 10, 5)
	}
	for _, line := range t.stopped {
		d.para(line, "", 8.5, 4.2)
	}
	if n := t.stoppedN - len(t.stopped); n > 0 {
		d.para(fmt.Sprintf("... and %s more: the %s sheet of %s lists every partner by delivery.", thousands(n), SheetPartners, FileXLSX), "", 8.5, 4.2)
	}
	d.p.Ln(3)
}

// keyTypes lists, for a server holding certificates of several key types
// (RSA and ECDSA: senders get one or the other), each certificate's own
// verdicts, so the broken one is named even when the other is fine.
func (d *doc) keyTypes(r *audit.Result) {
	if len(r.Certificates) < 2 {
		return
	}
	d.tableTitle("Certificates by key type (each sender gets one of them)")
	d.table([]tcol{{"Key", 14, "L", false}, {"TLS", 34, "L", true}, {"Leaf", 62, "L", true}, {"Not after", 20, "L", false}, {"Verdicts", 50, "L", true}},
		len(r.Certificates), func(k int) ([]string, []mark) {
			ca := r.Certificates[k]
			leaf, notAfter := "", ""
			if len(ca.Chain) > 0 {
				leaf, notAfter = ca.Chain[0].Subject, Day(ca.Chain[0].NotAfter)
			}
			vs := make([]string, len(ca.Verdicts))
			for j, v := range ca.Verdicts {
				vs[j] = string(v)
			}
			return []string{ca.KeyType, strings.TrimSpace(ca.TLSVersion + " " + ca.Cipher), leaf, notAfter, strings.Join(vs, ", ")}, nil
		})
}
