package promfile

import (
	"bufio"
	"bytes"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// family is one metric family as parseText reads it.
type parsedFamily struct {
	help, typ bool
	samples   int
}

// parseText checks b as the Prometheus text format wants it: every
// family's HELP and TYPE once, before its samples, all samples of a family
// together, no series twice, and every sample labelled with vantage; it
// returns the families by name.
func parseText(t *testing.T, b []byte, vantage string) map[string]*parsedFamily {
	t.Helper()
	fams := map[string]*parsedFamily{}
	series := map[string]bool{}
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kind, after, _ := strings.Cut(rest, " ")
			name, _, _ := strings.Cut(after, " ")
			f := fams[name]
			if f == nil {
				f = &parsedFamily{}
				fams[name] = f
			}
			switch {
			case f.samples > 0:
				t.Fatalf("line %d: %s %s after its samples", n, kind, name)
			case kind == "HELP" && !f.help:
				f.help = true
			case kind == "TYPE" && !f.typ && strings.HasSuffix(after, " gauge"):
				f.typ = true
			default:
				t.Fatalf("line %d: unexpected %q", n, line)
			}
			current = name
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		labels, value, ok2 := strings.Cut(rest, "} ")
		if !ok || !ok2 || name != current || !fams[name].typ {
			t.Fatalf("line %d: sample %q outside its family %q", n, line, current)
		}
		if !strings.HasPrefix(labels, `vantage="`+vantage+`"`) {
			t.Fatalf("line %d: %q lacks vantage %q", n, line, vantage)
		}
		if _, err := fmt.Sscanf(value, "%g", new(float64)); err != nil {
			t.Fatalf("line %d: value %q: %v", n, value, err)
		}
		if series[name+"{"+labels] {
			t.Fatalf("line %d: series %s{%s} twice", n, name, labels)
		}
		series[name+"{"+labels] = true
		fams[name].samples++
	}
	return fams
}

// seqOf gives the partners of res as the pipeline's spill does: a copy
// each, valid until the next.
func seqOf(res *audit.Results) iter.Seq[*audit.Result] {
	return func(yield func(*audit.Result) bool) {
		var r audit.Result
		for i := range res.Partners {
			r = res.Partners[i]
			if !yield(&r) {
				return
			}
		}
	}
}

// TestWriteFromEqualsWrite: the textfile streamed from a head and the
// partners is the textfile of the whole results, byte for byte, a valid
// text format, and no temporary file is left beside it.
func TestWriteFromEqualsWrite(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*audit.Results)
		o       Options
		vantage string
		targets int // mxaudit_target_verdict samples
	}{
		{"complete run", func(*audit.Results) {}, Options{}, "default", 3},
		{"incomplete run", func(r *audit.Results) { r.Incomplete = true }, Options{LastSuccess: started.Add(-time.Hour)}, "default", 3},
		{"domain partner at a vantage point, a shard", withTargets, Options{}, `paris-dc2",shard="2/4`, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := fixture()
			tt.edit(res)
			dir := t.TempDir()
			held, streamed := filepath.Join(dir, "held.prom"), filepath.Join(dir, "streamed.prom")
			if err := Write(held, res, tt.o); err != nil {
				t.Fatal(err)
			}
			head := *res
			head.Partners = nil
			if err := WriteFrom(streamed, &head, seqOf(res), tt.o); err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(held)
			got, err := os.ReadFile(streamed)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("WriteFrom (%v) differs from Write:\n%s\nwant\n%s", err, got, want)
			}
			fams := parseText(t, got, tt.vantage)
			if f := fams["mxaudit_target_verdict"]; f == nil || f.samples != tt.targets {
				t.Errorf("mxaudit_target_verdict %+v, want %d samples", f, tt.targets)
			}
			if f := fams["mxaudit_partner_verdict"]; f == nil || f.samples != len(res.Partners)-1 { // contoso twice
				t.Errorf("mxaudit_partner_verdict %+v, want %d samples", f, len(res.Partners)-1)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 2 {
				t.Errorf("files beside the textfiles: %v", ents)
			}
		})
	}
}

// TestWriteFromFailsCleanly: a textfile that cannot be written is an error
// naming it, and leaves no temporary file.
func TestWriteFromFailsCleanly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "mxaudit.prom")
	res := fixture()
	if err := WriteFrom(path, res, seqOf(res), Options{}); err == nil || !strings.Contains(err.Error(), "metrics file") {
		t.Errorf("WriteFrom into a missing directory = %v, want a metrics file error", err)
	}
}

// generated yields n synthetic domain partners of two targets each, one
// result reused (valid until the next, as the spill's are), and samples the
// live heap every 5,000 partners into peak.
func generated(n int, peak *uint64) iter.Seq[*audit.Result] {
	leaf := []audit.Cert{{NotAfter: started.Add(40 * 24 * time.Hour)}}
	return func(yield func(*audit.Result) bool) {
		var ms runtime.MemStats
		r := &audit.Result{}
		for i := range n {
			name := fmt.Sprintf("partner-%07d", i)
			*r = audit.Result{Partner: audit.Partner{Name: name, Domain: name + ".example", Host: "mx1." + name + ".example", Port: 25},
				Verdict: audit.Valid, Chain: leaf, Targets: []audit.TargetResult{
					{MX: "mx1." + name + ".example", Address: "192.0.2.1", Port: 25, Verdict: audit.Valid, Chain: leaf},
					{MX: "mx2." + name + ".example", Address: "192.0.2.2", Port: 25, Verdict: audit.Timeout}}}
			if i%5000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				*peak = max(*peak, ms.HeapAlloc)
			}
			if !yield(r) {
				return
			}
		}
	}
}

// TestWriteFromHeapBounded: the live heap of WriteFrom over 200,000
// partners exceeds that over 20,000 by no more than 64 bytes a partner
// (the hash of each name kept for duplicates), never by the textfile.
func TestWriteFromHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 220,000 partners")
	}
	run := func(n int) (uint64, int64) {
		var peak uint64
		path := filepath.Join(t.TempDir(), "mxaudit.prom")
		head := &audit.Results{Started: started, Finished: started.Add(time.Hour)}
		runtime.GC()
		if err := WriteFrom(path, head, generated(n, &peak), Options{}); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return peak, st.Size()
	}
	small, smallSize := run(20000)
	large, largeSize := run(200000)
	perPartner := (float64(large) - float64(small)) / 180000
	t.Logf("live heap %.1f MiB over 20,000 partners (textfile %.1f MiB), %.1f MiB over 200,000 (textfile %.1f MiB): %.1f bytes a partner",
		float64(small)/(1<<20), float64(smallSize)/(1<<20), float64(large)/(1<<20), float64(largeSize)/(1<<20), perPartner)
	if largeSize < 9*smallSize {
		t.Errorf("textfile of 200,000 partners is %d bytes, of 20,000 %d: the partners were not all written", largeSize, smallSize)
	}
	if perPartner > 64 {
		t.Errorf("live heap grows by %.1f bytes a partner, want at most 64", perPartner)
	}
}

// BenchmarkWriteFrom writes the textfile of 20,000 generated partners.
func BenchmarkWriteFrom(b *testing.B) {
	path := filepath.Join(b.TempDir(), "mxaudit.prom")
	head := &audit.Results{Started: started, Finished: started.Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		var peak uint64
		if err := WriteFrom(path, head, generated(20000, &peak), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWrite writes the textfile of 20,000 partners held in memory.
func BenchmarkWrite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "mxaudit.prom")
	res := heldResults(20000)
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(path, res, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// heldResults is n partners as generated gives them, held in memory.
func heldResults(n int) *audit.Results {
	res := &audit.Results{Started: started, Finished: started.Add(time.Hour)}
	var peak uint64
	for r := range generated(n, &peak) {
		res.Partners = append(res.Partners, *r)
	}
	return res
}
