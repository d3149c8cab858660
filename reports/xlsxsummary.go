package reports

import (
	"cmp"
	"container/heap"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// CertSheetCap is how many distinct certificates, soonest expiry first,
// the Certificates sheet lists; the others are counted in a note row that
// names where every certificate is (results.json, and targets.csv for each
// target's leaf). A variable so that tests can lower it.
var CertSheetCap = 10000

// certNamesBudget bounds the partner names the Certificates sheet keeps
// over all its certificates (each cell holds maxCellText characters at
// most); names beyond it are counted ("… and N more"), not kept.
var certNamesBudget = 16 << 20 // a variable so that tests can lower it

// xlExtras is what only the workbook gathers of every partner, in the
// view's tally pass (view.tallyPartners, whose tally holds the Summary's
// counts and the policy sources that order the Partners sheet): the
// certificates that expire soonest, and a byte a partner. Apart from those
// bytes its size does not grow with the number of partners.
type xlExtras struct {
	certs certHeap
	// levels holds, per partner in results order, a bit per severity level
	// its findings have (levelBit): one byte a partner, so that the
	// Findings sheet's passes skip the partners without a finding at their level.
	levels []uint8
}

// levelBit is the bit of a severity level in xlExtras.levels.
func levelBit(level int) uint8 { return 1 << (max(level, -1) + 1) }

// tally ranges over partners once: the view's tally, and the workbook's extras.
func (x *xl) tally(partners iter.Seq[*audit.Result]) error {
	ex := &xlExtras{certs: newCertHeap(CertSheetCap)}
	t, err := x.v.tallyPartners(partners, nil, func(r *audit.Result, fs []Finding) {
		var mask uint8
		for _, f := range fs {
			mask |= levelBit(f.Severity.Level())
		}
		ex.levels = append(ex.levels, mask)
		for _, c := range servedCerts(r) {
			ex.certs.add(c, r.Name)
		}
	})
	if err != nil {
		return err
	}
	x.v.t, x.ex = t, ex
	return nil
}

// deliverySummaryOf says, per policy source, where mail stops today and
// would stop under the what-if policy; "" without an MTA policy.
func deliverySummaryOf(groups []audit.DeliveryGroup) string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.String()
	}
	return strings.Join(out, "\n")
}

// deliveryPass selects the partners one pass over them writes to the
// Partners sheet: those of one policy source whose delivery outcome is
// one of outcomes (outcomes alike in how bad they are), or, with none
// set, the partners without a delivery.
type deliveryPass struct {
	source   string
	outcomes []string
	none     bool
}

func (p deliveryPass) has(d *audit.Delivery) bool {
	if p.none || d == nil {
		return p.none && d == nil
	}
	return d.DeliverySource() == p.source && slices.Contains(p.outcomes, d.Outcome)
}

// deliveryPasses returns the passes that write the Partners sheet in its
// order: grouped by policy source (in groups' order), worst delivery first
// within a source, partners without a delivery last, each pass in
// inventory order. Without groups it is one pass over every partner.
func deliveryPasses(groups []audit.DeliveryGroup) []deliveryPass {
	var out []deliveryPass
	for _, g := range groups {
		os := make([]string, 0, len(g.Outcomes))
		for o := range g.Outcomes {
			os = append(os, o)
		}
		slices.SortFunc(os, func(a, b string) int {
			switch {
			case audit.WorseDelivery(a, b):
				return -1
			case audit.WorseDelivery(b, a):
				return 1
			}
			return strings.Compare(a, b)
		})
		for i, o := range os {
			if i > 0 && !audit.WorseDelivery(os[i-1], o) { // as bad as the one before: the same pass
				p := &out[len(out)-1]
				p.outcomes = append(p.outcomes, o)
				continue
			}
			out = append(out, deliveryPass{source: g.Source, outcomes: []string{o}})
		}
	}
	return append(out, deliveryPass{none: true})
}

// certEntry is one distinct certificate (without its DER) and the partners presenting it.
type certEntry struct {
	audit.Cert
	key      string
	names    []string // the partners presenting it, as far as a cell holds them
	size     int      // characters of names joined with "; "
	more     int      // partners presenting it beyond names
	lastName string
}

// addName adds partner name to e, as joinCapped would show the list:
// names while they fit in a cell (and in the heap's budget), then only counted.
func (h *certHeap) addName(e *certEntry, name string) {
	if name == e.lastName && (len(e.names) > 0 || e.more > 0) {
		return
	}
	e.lastName = name
	sep := 0
	if len(e.names) > 0 {
		sep = 2
	}
	if e.more > 0 || e.size+len(name)+2 > maxCellText-40 || h.nameBytes+len(name) > certNamesBudget { // joinCapped's test, and the budget
		e.more++
		return
	}
	e.names = append(e.names, name)
	e.size += sep + len(name)
	h.nameBytes += len(name)
}

// partners is how many partners present the certificate.
func (e *certEntry) partners() int { return len(e.names) + e.more }

// presentedBy is the Presented by cell: the names, and how many more.
func (e *certEntry) presentedBy() string {
	s := strings.Join(e.names, "; ")
	if e.more > 0 {
		s += fmt.Sprintf(" … and %d more", e.more)
	}
	return s
}

// certHeap keeps the cap distinct certificates that expire soonest
// (ties by SHA-256), keyed as distinctCerts keys them, and estimates how
// many distinct certificates there are in all.
type certHeap struct {
	cap       int
	entries   []*certEntry // a heap, latest expiry on top
	byKey     map[string]*certEntry
	dropped   bool // a certificate was left out (so distinct is an estimate)
	nameBytes int  // of the names the entries keep (certNamesBudget)
	distinct  hll
}

func newCertHeap(n int) certHeap {
	return certHeap{cap: max(n, 0), byKey: map[string]*certEntry{}}
}

func certKey(c *audit.Cert) string {
	if c.SHA256 != "" {
		return c.SHA256
	}
	return c.SHA1 + "|" + c.Subject + "|" + c.Serial
}

// later orders certificates by expiry, then SHA-256: the order of the sheet.
func later(a, b *certEntry) int {
	return cmp.Or(a.NotAfter.Compare(b.NotAfter), strings.Compare(a.SHA256, b.SHA256), strings.Compare(a.key, b.key))
}

func (h *certHeap) Len() int           { return len(h.entries) }
func (h *certHeap) Less(i, j int) bool { return later(h.entries[i], h.entries[j]) > 0 }
func (h *certHeap) Swap(i, j int)      { h.entries[i], h.entries[j] = h.entries[j], h.entries[i] }
func (h *certHeap) Push(x any)         { h.entries = append(h.entries, x.(*certEntry)) }
func (h *certHeap) Pop() any {
	e := h.entries[len(h.entries)-1]
	h.entries = h.entries[:len(h.entries)-1]
	return e
}

// add counts certificate c, presented by partner name.
func (h *certHeap) add(c audit.Cert, name string) {
	key := certKey(&c)
	h.distinct.add(key)
	if e, ok := h.byKey[key]; ok {
		h.addName(e, name)
		return
	}
	c.DER = nil
	e := &certEntry{Cert: c, key: key}
	if len(h.entries) >= h.cap {
		if h.cap == 0 || later(e, h.entries[0]) >= 0 {
			h.dropped = true
			return
		}
		old := heap.Pop(h).(*certEntry)
		delete(h.byKey, old.key)
		for _, n := range old.names {
			h.nameBytes -= len(n)
		}
		h.dropped = true
	}
	h.addName(e, name)
	h.byKey[key] = e
	heap.Push(h, e)
}

// sorted returns the certificates kept, soonest expiry first.
func (h *certHeap) sorted() []*certEntry {
	out := slices.Clone(h.entries)
	slices.SortFunc(out, later)
	return out
}

// more returns how many distinct certificates were left out and whether
// that is an estimate (when any was left out, since the heap forgets them).
func (h *certHeap) more() (n int, estimate bool) {
	if !h.dropped {
		return 0, false
	}
	return max(h.distinct.estimate()-len(h.entries), 1), true
}

// hll is a HyperLogLog counter of distinct strings (2^14 registers, about
// 0.8% standard error): a fixed 16 KiB however many it counts.
type hll struct {
	reg []uint8
}

const hllBits = 14

func (c *hll) add(s string) {
	if c.reg == nil {
		c.reg = make([]uint8, 1<<hllBits)
	}
	h := uint64(14695981039346656037) // FNV-1a, then splitmix64's finaliser to spread the bits
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	idx := h >> (64 - hllBits)
	rest := h<<hllBits | 1<<(hllBits-1) // never all zero
	rank := uint8(1)
	for rest&(1<<63) == 0 {
		rank++
		rest <<= 1
	}
	if rank > c.reg[idx] {
		c.reg[idx] = rank
	}
}

func (c *hll) estimate() int {
	if c.reg == nil {
		return 0
	}
	m := float64(len(c.reg))
	sum, zeros := 0.0, 0
	for _, r := range c.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros)) // linear counting for small counts
	}
	return int(math.Round(e))
}
