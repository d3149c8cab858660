package reports

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"codeberg.org/go-pdf/fpdf"
)

// Font families registered in every PDF.
const (
	famBase = "dejavu"
	famCJK  = "cjk"
)

// placeholder stands for a character no available font can show: visible, never garbage.
const placeholder = "□"

type rgb struct{ r, g, b int }

// doc is a PDF being written: fpdf plus font-run handling and the first error.
type doc struct {
	p         *fpdf.Fpdf
	v         *view
	reg, bold *Font
	cjk       *Font
	cjkAdded  bool
	style     string // "" or "B"
	size      float64
	curFam    string // the font fpdf has set, to skip redundant SetFont calls
	curStyle  string
	curSize   float64
	missing   int // characters shown as placeholder
	left, top float64
	width     float64 // usable width between the margins
	pageH     float64
	bottom    float64 // y limit for content
}

type run struct {
	text string
	fam  string
}

// fontFor returns the font that shows r (DejaVu, else the CJK font) and
// the rune to set: the placeholder when no font has r, -1 to drop it.
func (d *doc) fontFor(r rune) (string, rune) {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return famBase, ' '
	case unicode.IsControl(r) || r == utf8.RuneError:
		return "", -1
	case d.reg.Covers(r):
		return famBase, r
	case d.cjk.Covers(r):
		return famCJK, r
	case unicode_ignorable(r): // marks and joiners alone would be garbage
		return "", -1
	}
	d.missing++
	return famBase, []rune(placeholder)[0]
}

// runs splits s into pieces each set in one font.
func (d *doc) runs(s string) []run {
	var out []run
	var b strings.Builder
	cur := ""
	for _, r := range s {
		fam, rr := d.fontFor(r)
		if rr < 0 {
			continue
		}
		if fam != cur && b.Len() > 0 {
			out = append(out, run{b.String(), cur})
			b.Reset()
		}
		cur = fam
		b.WriteRune(rr)
	}
	if b.Len() > 0 {
		out = append(out, run{b.String(), cur})
	}
	return out
}

// setFont sets the style ("" or "B") and size in points of the text that follows.
func (d *doc) setFont(style string, size float64) {
	d.style, d.size = style, size
}

// apply makes fpdf's current font the one for family fam in the current style and size.
func (d *doc) apply(fam string) {
	style := d.style
	if fam == famCJK {
		style = ""
		if !d.cjkAdded {
			d.p.AddUTF8FontFromBytes(famCJK, "", d.cjk.Data)
			d.cjkAdded = true
		}
	}
	if fam == d.curFam && style == d.curStyle && d.size == d.curSize {
		return
	}
	d.p.SetFont(fam, style, d.size)
	d.curFam, d.curStyle, d.curSize = fam, style, d.size
}

// invalidate forgets which font fpdf has set (a new page resets it).
func (d *doc) invalidate() { d.curFam = "" }

// addPage starts a new page.
func (d *doc) addPage() {
	d.p.AddPage()
	d.invalidate()
}

// fontFile returns the loaded font of family fam in the current style.
func (d *doc) fontFile(fam string) *Font {
	switch {
	case fam == famCJK:
		return d.cjk
	case d.style == "B":
		return d.bold
	}
	return d.reg
}

// mm converts a width in 1/1000 em at the current size to millimetres.
func (d *doc) mm(w int) float64 { return float64(w) * d.size / 1000 * 25.4 / 72 }

// textWidth returns the width of s in millimetres in the current style and size.
func (d *doc) textWidth(s string) float64 {
	w := 0
	for _, r := range s {
		fam, rr := d.fontFor(r)
		if rr >= 0 {
			w += d.fontFile(fam).width(rr)
		}
	}
	return d.mm(w)
}

// fit shortens s with "…" until it fits in w.
func (d *doc) fit(s string, w float64) string {
	if d.textWidth(s) <= w {
		return s
	}
	rs := []rune(s)
	lo, hi := 0, len(rs)
	for lo < hi {
		m := (lo + hi + 1) / 2
		if d.textWidth(string(rs[:m])+"…") <= w {
			lo = m
		} else {
			hi = m - 1
		}
	}
	return strings.TrimRight(string(rs[:lo]), " ") + "…"
}

// text draws s on one line at x, y in a box w by h, aligned "L", "C" or "R", shortened to fit.
func (d *doc) text(x, y, w, h float64, s, align string) {
	s = d.fit(s, w)
	rs := d.runs(s)
	tw := 0.0
	ws := make([]float64, len(rs))
	for i, r := range rs {
		ws[i] = d.textWidth(r.text)
		tw += ws[i]
	}
	switch align {
	case "C":
		x += (w - tw) / 2
	case "R":
		x += w - tw
	}
	for i, r := range rs {
		d.apply(r.fam)
		d.p.SetXY(x, y)
		d.p.CellFormat(ws[i], h, r.text, "", 0, "L", false, 0, "")
		x += ws[i]
	}
}

// wrap breaks s into lines no wider than w, at spaces where it can.
func (d *doc) wrap(s string, w float64) []string {
	var lines []string
	space := d.textWidth(" ")
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		var line strings.Builder
		lw := 0.0
		for _, word := range words {
			ww := d.textWidth(word)
			if line.Len() > 0 && lw+space+ww <= w {
				line.WriteByte(' ')
				line.WriteString(word)
				lw += space + ww
				continue
			}
			if line.Len() > 0 {
				lines = append(lines, line.String())
				line.Reset()
			}
			for ww > w { // a word longer than the line: break it
				rs := []rune(word)
				n := 1
				for n < len(rs) && d.textWidth(string(rs[:n+1])) <= w {
					n++
				}
				for k := n - 1; k > n/2; k-- { // prefer breaking after punctuation
					if strings.ContainsRune("-.,=/_@:", rs[k-1]) {
						n = k
						break
					}
				}
				lines = append(lines, string(rs[:n]))
				word = string(rs[n:])
				ww = d.textWidth(word)
			}
			line.WriteString(word)
			lw = ww
		}
		if line.Len() > 0 || len(words) == 0 {
			lines = append(lines, line.String())
		}
	}
	return lines
}

// need starts a new page when less than h is left on this one; it reports whether it did.
func (d *doc) need(h float64) bool {
	if d.p.GetY()+h > d.bottom {
		d.addPage()
		return true
	}
	return false
}

// para writes s as a wrapped paragraph across the usable width.
func (d *doc) para(s string, style string, size, lh float64) {
	d.setFont(style, size)
	for _, line := range d.wrap(s, d.width) {
		d.need(lh)
		y := d.p.GetY()
		d.text(d.left, y, d.width, lh, line, "L")
		d.p.SetXY(d.left, y+lh)
	}
}

// heading writes a section heading, keeping room for at least some content below it.
func (d *doc) heading(s string, size float64) {
	d.need(size*0.5 + 20)
	d.p.Ln(2)
	d.setFont("B", size)
	y := d.p.GetY()
	d.p.SetTextColor(31, 56, 100)
	d.text(d.left, y, d.width, size*0.5, s, "L")
	d.p.SetTextColor(0, 0, 0)
	d.p.SetXY(d.left, y+size*0.5+1.5)
}

func (d *doc) fill(c rgb)  { d.p.SetFillColor(c.r, c.g, c.b) }
func (d *doc) color(c rgb) { d.p.SetTextColor(c.r, c.g, c.b) }

// tcol is one column of a table.
type tcol struct {
	head  string
	w     float64
	align string
	wrap  bool // wrap long text over several lines instead of shortening it
}

// mark colours one cell of a row (a severity or status badge).
type mark struct {
	col int
	bg  rgb
}

// maxCellLines caps a wrapped cell so one row never outgrows a page.
const maxCellLines = 12

// table draws rows with a header repeated on every page.
func (d *doc) table(cols []tcol, n int, row func(i int) ([]string, []mark)) {
	const size, lh, pad = 7.5, 3.4, 1.0
	header := func() {
		d.setFont("B", size)
		y := d.p.GetY()
		x := d.left
		d.fill(rgb{31, 56, 100})
		d.p.Rect(d.left, y, d.width, lh+2*pad, "F")
		d.p.SetTextColor(255, 255, 255)
		for _, c := range cols {
			d.text(x+pad, y+pad, c.w-2*pad, lh, c.head, c.align)
			x += c.w
		}
		d.p.SetTextColor(0, 0, 0)
		d.p.SetXY(d.left, y+lh+2*pad)
	}
	d.need(2 * (lh + 2*pad))
	header()
	for i := 0; i < n; i++ {
		cells, marks := row(i)
		d.setFont("", size)
		lines := make([][]string, len(cols))
		nl := 1
		for j, c := range cols {
			if j >= len(cells) {
				continue
			}
			if c.wrap {
				lines[j] = d.wrap(cells[j], c.w-2*pad)
				if len(lines[j]) > maxCellLines {
					lines[j] = append(lines[j][:maxCellLines-1], d.fit(strings.Join(lines[j][maxCellLines-1:], " "), c.w-2*pad))
				}
			} else {
				lines[j] = []string{cells[j]}
			}
			nl = max(nl, len(lines[j]))
		}
		h := float64(nl)*lh + 2*pad
		if d.need(h) {
			header()
			d.setFont("", size)
		}
		y := d.p.GetY()
		if i%2 == 1 {
			d.fill(rgb{242, 242, 242})
			d.p.Rect(d.left, y, d.width, h, "F")
		}
		x := d.left
		for j, c := range cols {
			var bg *rgb
			for _, m := range marks {
				if m.col == j {
					bg = &m.bg
				}
			}
			if bg != nil {
				d.fill(*bg)
				d.p.Rect(x, y, c.w, h, "F")
				d.p.SetTextColor(255, 255, 255)
				d.setFont("B", size)
			}
			for k, l := range lines[j] {
				d.text(x+pad, y+pad+float64(k)*lh, c.w-2*pad, lh, l, c.align)
			}
			if bg != nil {
				d.p.SetTextColor(0, 0, 0)
				d.setFont("", size)
			}
			x += c.w
		}
		d.p.SetDrawColor(200, 200, 200)
		d.p.Line(d.left, y+h, d.left+d.width, y+h)
		d.p.SetDrawColor(0, 0, 0)
		d.p.SetXY(d.left, y+h)
	}
	d.p.Ln(3)
}
