package builtin_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
)

// streamBatch is the number of partners the pipeline hands Session.Check at a time.
const streamBatch = 256

// openBuiltin starts the built-in plugin over go-plugin.
func openBuiltin(t testing.TB) *checks.Plugins {
	t.Helper()
	h := checks.Open(context.Background(), checks.Options{Builtin: builtinCmd, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(h.Close)
	if f := h.Failures(); len(f) > 0 {
		t.Fatalf("built-in plugin failed: %v", f[0].Err)
	}
	return h
}

// streamed runs a Session over src's partners, copied a batch of size at a
// time as the pipeline reads them from its spill, and returns the head and
// the partners as checked.
func streamed(t testing.TB, h *checks.Plugins, src *audit.Results, size int) (*audit.Results, []audit.Result) {
	t.Helper()
	ctx := context.Background()
	head := *src
	head.Partners = nil
	head.PrivateRoots = slices.Clone(src.PrivateRoots)
	s, err := h.Start(ctx, &head, checks.Selection{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Result
	for start := 0; start < len(src.Partners); start += size {
		batch := slices.Clone(src.Partners[start:min(start+size, len(src.Partners))])
		if err := s.Check(ctx, batch); err != nil {
			t.Fatal(err)
		}
		out = append(out, batch...)
	}
	if err := s.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	return &head, out
}

// TestStreamedEqualsHeld: a Session fed batches of 256 partners gives every
// partner and private root the same findings as Plugins.Check over the
// whole run, the warnings about a trusted private root included.
func TestStreamedEqualsHeld(t *testing.T) {
	src := benchResults(t, 1000)
	src.PrivateRoots[0].UsedBy = []string{"partner-00003", "partner-00700"}
	src.PrivateRoots[0].DeclaredBy = []string{"partner-00700", "partner-00999"}
	h := openBuiltin(t)

	held := fresh(src)
	if err := h.Check(context.Background(), held, checks.Selection{}, nil); err != nil {
		t.Fatal(err)
	}
	heldStats := h.Stats()
	head, got := streamed(t, h, src, streamBatch)
	if st := h.Stats(); st != heldStats {
		t.Errorf("Stats streamed %+v, held %+v", st, heldStats)
	}
	total := 0
	for i := range held.Partners {
		total += len(got[i].Findings)
		if !reflect.DeepEqual(got[i].Findings, held.Partners[i].Findings) {
			t.Fatalf("%s: streamed findings\n%+v\nheld\n%+v", got[i].Name, got[i].Findings, held.Partners[i].Findings)
		}
	}
	if total < len(held.Partners) {
		t.Errorf("%d findings over %d partners: the checks did not run", total, len(held.Partners))
	}
	if !reflect.DeepEqual(head.PrivateRoots, held.PrivateRoots) || len(head.PrivateRoots[0].Findings) != 1 {
		t.Errorf("private roots streamed %+v, held %+v; want one finding", head.PrivateRoots, held.PrivateRoots)
	}
	for i, r := range got {
		heard := 0
		for _, f := range r.Findings {
			if f.Check == "private-root" && strings.HasPrefix(f.Message, "private root CN=Bench Root expires") {
				heard++
			}
		}
		want := 0
		if i == 3 || i == 700 || i == 999 { // partner-00700 is in both lists: told once
			want = 1
		}
		if heard != want {
			t.Errorf("%s heard of the private root %d times, want %d", r.Name, heard, want)
		}
	}
}

// TestSessionHeapBounded: checking 50,000 partners a batch at a time keeps
// no more live heap than checking 5,000.
func TestSessionHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("checks 55,000 partners")
	}
	tmpl := benchResults(t, 1)
	h := openBuiltin(t)
	run := func(n int) (peak uint64, findings int) {
		ctx := context.Background()
		head := *tmpl
		head.Partners = nil
		head.PrivateRoots = slices.Clone(tmpl.PrivateRoots)
		s, err := h.Start(ctx, &head, checks.Selection{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		for start, k := 0, 0; start < n; start, k = start+streamBatch, k+1 {
			batch := make([]audit.Result, min(streamBatch, n-start)) // the spill's next batch
			for i := range batch {
				batch[i] = tmpl.Partners[0]
				batch[i].Name = fmt.Sprintf("partner-%06d", start+i)
			}
			if err := s.Check(ctx, batch); err != nil {
				t.Fatal(err)
			}
			for i := range batch {
				findings += len(batch[i].Findings)
			}
			if k%16 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		if err := s.Finish(ctx); err != nil {
			t.Fatal(err)
		}
		return peak, findings
	}
	small, fs := run(5000)
	large, fl := run(50000)
	t.Logf("live heap: %.1f MiB over 5,000 partners, %.1f MiB over 50,000", float64(small)/(1<<20), float64(large)/(1<<20))
	if fs < 5000 || fl != 10*fs {
		t.Errorf("findings %d over 5,000 and %d over 50,000: want at least one each and ten times as many", fs, fl)
	}
	if large > small+small/2+(4<<20) {
		t.Errorf("live heap grew from %d over 5,000 partners to %d over 50,000", small, large)
	}
}

// BenchmarkSession checks 10,000 partners through the built-in plugin over
// go-plugin: held (Plugins.Check) and streamed in calls of several sizes.
func BenchmarkSession(b *testing.B) {
	const n = 10000
	src := benchResults(b, n)
	h := openBuiltin(b)
	b.Run("held", func(b *testing.B) {
		for b.Loop() {
			if err := h.Check(context.Background(), fresh(src), checks.Selection{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, size := range []int{256, 512, 1024} {
		b.Run(fmt.Sprintf("streamed-%d", size), func(b *testing.B) {
			for b.Loop() {
				streamed(b, h, src, size)
			}
		})
	}
}
