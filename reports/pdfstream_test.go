package reports

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// TestPDFFromPartners: the PDF written from the partners one at a time is
// byte for byte the one written from the results held whole, head.Partners
// unread, in one pass for the figures and at most one per severity shown in details.
func TestPDFFromPartners(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		cap  int
	}{
		{"results", "results.json", 0},
		{"results capped", "results.json", 2},
		{"targets", "results-targets.json", 0},
		{"policies", "results-policies.json", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := audit.ReadResults(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{NoFontSearch: true, DetailCap: tc.cap}
			want := renderPDF(t, res, opts)
			passes := 0
			seq := decoded(t, res, &passes)
			head := *res
			head.Partners = nil
			var got bytes.Buffer
			if err := WritePDFFrom(&got, &head, seq, opts); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, got.Bytes()) {
				t.Errorf("the PDF from an iterator (%d bytes) differs from the held one (%d bytes)", got.Len(), len(want))
			}
			if passes < 1 || passes > 4 {
				t.Errorf("ranged over the partners %d times, want 1 to 4", passes)
			}
		})
	}
}

// synthetic gives n partners made from the fixture's, each a fresh copy
// under a new name, and records the peak live heap while it is ranged
// over (sampled every 500 partners and every 20 ms).
type synthetic struct {
	base []audit.Result
	n    int
	peak atomic.Uint64 // sampled from the generator and from a ticker
}

func (s *synthetic) all() iter.Seq[*audit.Result] {
	return func(yield func(*audit.Result) bool) {
		for i := range s.n {
			if i%5000 == 0 {
				// A collection of its own, with nothing else allocating: the
				// live heap then is what the writer keeps, not the garbage
				// allocated while a background collection marked.
				runtime.GC()
				s.sample()
			}
			r := s.base[i%len(s.base)]
			r.Name = fmt.Sprintf("%s #%06d", r.Name, i)
			r.Domain = fmt.Sprintf("d%06d.%s", i, r.Domain)
			if !yield(&r) {
				return
			}
		}
	}
}

// sample records the heap the last garbage collection found live: what
// the writer keeps, not the garbage it has not collected yet.
func (s *synthetic) sample() {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	for v := m[0].Value.Uint64(); ; {
		p := s.peak.Load()
		if v <= p || s.peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// peakPDF renders the PDF of n synthetic partners from a generator and
// returns its text, and the peak heap in use over the heap in use before.
func peakPDF(t *testing.T, base *audit.Results, n int) (string, uint64, *synthetic) {
	t.Helper()
	s := &synthetic{base: base.Partners, n: n}
	head := *base
	head.Partners = nil
	runtime.GC()
	s.sample()
	before := s.peak.Load()
	var b bytes.Buffer
	err := WritePDFFrom(&b, &head, s.all(), Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := pdfText(t, b.Bytes())
	peak := s.peak.Load()
	return strings.Join(strings.Fields(text), " "), peak - min(before, peak), s
}

// TestPDFBoundedHeap: the PDF of 100,000 partners from a generator takes
// about the heap of 10,000 (the report is capped, not the partners held),
// says how many partners with a problem it leaves out, and counts them all.
func TestPDFBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("renders the PDF of 110,000 synthetic partners")
	}
	base := loadFixture(t)
	_, small, _ := peakPDF(t, base, 10_000)
	const n = 99_990 // a multiple of the fixture's 30 partners
	text, large, _ := peakPDF(t, base, n)
	t.Logf("peak heap over the start: %.1f MiB for 10,000 partners, %.1f MiB for 100,000", float64(small)/(1<<20), float64(large)/(1<<20))
	if large > small*2 {
		t.Errorf("peak heap %d bytes for 100,000 partners, %d for 10,000: grows with the partners", large, small)
	}
	// The figures, counted here from the fixture, one copy of it per len(base.Partners) partners.
	reps := n / len(base.Partners)
	if n%len(base.Partners) != 0 {
		t.Fatalf("pick n a multiple of the fixture's %d partners", len(base.Partners))
	}
	v, err := newView(base, Options{NoFontSearch: true})
	if err != nil {
		t.Fatal(err)
	}
	fails := 0
	for i := range base.Partners {
		if failing(&base.Partners[i]) {
			fails++
		}
	}
	fs := map[audit.Severity]int{}
	for _, f := range v.findings {
		fs[f.Severity] += reps
	}
	for _, want := range []string{
		fmt.Sprintf("... %s more partners with a problem: see the Partners and Findings sheets of report.xlsx.", thousands(fails*reps-DetailCap)),
		fmt.Sprintf("Findings: %d critical, %d error, %d warning, %d info.", fs[audit.Critical], fs[audit.Error], fs[audit.Warning], fs[audit.Info]),
		fmt.Sprintf("more partners: see %s and the %s sheet of %s.", FileFindingsCSV, SheetFindings, FileXLSX),
		fmt.Sprintf("Of %d partners, %d have a TLS problem", n, fails*reps),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF of %d partners lacks %q", n, want)
		}
	}
}

// BenchmarkPDF10kFrom renders the PDF of 10,000 synthetic partners from a generator.
func BenchmarkPDF10kFrom(b *testing.B) {
	base := loadFixture(b)
	head := *base
	head.Partners = nil
	s := &synthetic{base: base.Partners, n: 10_000}
	b.ReportAllocs()
	for b.Loop() {
		if err := WritePDFFrom(&bytes.Buffer{}, &head, s.all(), Options{NoFontSearch: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPartnerPDFsFromPartners: the per-partner PDFs written from the
// partners one at a time have the names and the bytes of those written
// from the results held whole, whether the rows of a partner name are
// consecutive (read one partner at a time) or not (an older results.json).
func TestPartnerPDFsFromPartners(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*audit.Results)
	}{
		{"one row each", func(*audit.Results) {}},
		{"rows of a name consecutive", func(r *audit.Results) {
			two := r.Partners[1]
			two.Host = "mx2." + two.Domain
			r.Partners = append(r.Partners[:2], append([]audit.Result{two}, r.Partners[2:]...)...)
		}},
		{"rows of a name apart", func(r *audit.Results) {
			two := r.Partners[1]
			two.Host = "mx2." + two.Domain
			r.Partners = append(r.Partners, two)
		}},
		{"names that slug alike", func(r *audit.Results) {
			r.Partners[2].Name, r.Partners[3].Name = "Acme / Mail", "acme mail"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := loadFixture(t)
			tc.edit(res)
			opts := Options{NoFontSearch: true}
			heldDir, seqDir := t.TempDir(), t.TempDir()
			want, err := WriteAll(context.Background(), heldDir, res, nil, true, opts)
			if err != nil {
				t.Fatal(err)
			}
			passes := 0
			head := *res
			head.Partners = nil
			got, err := WriteAllFrom(context.Background(), seqDir, &head, decoded(t, res, &passes), nil, true, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || len(want) != len(firstRows(res)) {
				t.Fatalf("%d PDFs from an iterator, %d held, want %d", len(got), len(want), len(firstRows(res)))
			}
			for i := range want {
				rel, _ := filepath.Rel(heldDir, want[i])
				if grel, _ := filepath.Rel(seqDir, got[i]); grel != rel {
					t.Errorf("PDF %d: %s from an iterator, %s held", i, grel, rel)
					continue
				}
				a, errA := os.ReadFile(want[i])
				b, errB := os.ReadFile(got[i])
				if errA != nil || errB != nil || !bytes.Equal(a, b) {
					t.Errorf("%s differs from the held one (%v %v)", rel, errA, errB)
				}
			}
		})
	}
}

// TestPartnerPDFsCancel: once ctx ends no further per-partner PDF is started.
func TestPartnerPDFsCancel(t *testing.T) {
	res := bigResults(t, 200)
	head := *res
	head.Partners = nil
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	pass := 0
	seq := func(yield func(*audit.Result) bool) {
		pass++
		for i := range res.Partners {
			if i == 20 && pass == 2 { // the first pass finds the rows of each name consecutive
				once.Do(cancel)
			}
			if !yield(&res.Partners[i]) {
				return
			}
		}
	}
	got, _ := writePartnerPDFs(ctx, t.TempDir(), &head, seq, Options{NoFontSearch: true})
	if len(got) == 0 || len(got) >= 40 {
		t.Errorf("%d PDFs written after a cancel at the 20th partner, want some and fewer than 40", len(got))
	}
}

// TestViewFromPartners: the figures of a view streamed from the partners
// (newViewFrom, for the workbook's Summary) are those of the view of the
// results held whole, for our report and for a partner's.
func TestViewFromPartners(t *testing.T) {
	read := func(file string) func(*testing.T) *audit.Results {
		return func(t *testing.T) *audit.Results {
			res, err := audit.ReadResults(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	for _, fx := range []struct {
		name string
		load func(*testing.T) *audit.Results
	}{
		{"results", read("results.json")}, {"targets", read("results-targets.json")},
		{"policies", read("results-policies.json")}, {"deliveries", withDeliveries},
	} {
		for _, forPartner := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/partner=%v", fx.name, forPartner), func(t *testing.T) {
				res := fx.load(t)
				held, err := newViewFor(res, Options{}, forPartner)
				if err != nil {
					t.Fatal(err)
				}
				passes := 0
				head := *res
				head.Partners = nil
				streamed, err := newViewFrom(&head, decoded(t, res, &passes), Options{}, forPartner)
				if err != nil {
					t.Fatal(err)
				}
				if passes != 1 {
					t.Errorf("ranged over the partners %d times, want 1", passes)
				}
				want := fmt.Sprint(held.byVerdict(), held.bySeverity(), held.findingsBySeverity(), deliverySummaryOf(audit.DeliveryGroups(res.Partners)), len(held.findings))
				got := fmt.Sprint(streamed.byVerdict(), streamed.bySeverity(), streamed.findingsBySeverity(), streamed.t.deliverySummary(), streamed.t.nFindings)
				if got != want {
					t.Errorf("streamed %s\n     held %s", got, want)
				}
			})
		}
	}
}

// TestWriteAllFromPartners: every report written from the partners alone
// (head.Partners nil) is there, and report.pdf is the one written from the results held whole.
func TestWriteAllFromPartners(t *testing.T) {
	res := loadFixture(t)
	opts := Options{NoFontSearch: true}
	heldDir, seqDir := t.TempDir(), t.TempDir()
	if _, err := WriteAll(context.Background(), heldDir, res, AllFormats, false, opts); err != nil {
		t.Fatal(err)
	}
	passes := 0
	head := *res
	head.Partners = nil
	got, err := WriteAllFrom(context.Background(), seqDir, &head, decoded(t, res, &passes), AllFormats, false, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileXLSX, FilePDF, FilePartnersCSV, FileTargetsCSV, FileFindingsCSV, FileRootsCSV} {
		p := filepath.Join(seqDir, f)
		if _, err := os.Stat(p); err != nil || !slices.Contains(got, p) {
			t.Errorf("%s not written (%v)", f, err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(heldDir, FilePDF))
	b, _ := os.ReadFile(filepath.Join(seqDir, FilePDF))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("report.pdf from the partners (%d bytes) differs from the held one (%d bytes)", len(b), len(a))
	}
}

// findingsBySeverity counts findings by severity, most severe first.
func (v *view) findingsBySeverity() map[audit.Severity]int {
	return maps.Clone(v.tallied().findings)
}

// failing reports whether r has anything at or above warning.
func failing(r *audit.Result) bool { return problem(r.WorstSeverity()) }

// newViewFrom is the view of the run head with its partners given one at a
// time (head.Partners unread): its figures are tallied in one pass, and
// v.findings stays nil (a streamed writer ranges v.partners instead).
func newViewFrom(head *audit.Results, partners iter.Seq[*audit.Result], opts Options, forPartner bool) (*view, error) {
	v, err := newHeadView(head, opts, forPartner)
	if err != nil {
		return nil, err
	}
	v.partners = partners
	if v.t, err = v.tallyPartners(partners, nil, nil); err != nil {
		return nil, err
	}
	return v, nil
}
