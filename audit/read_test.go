package audit

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wholeRead is how results.json was read before the streamed reader: the
// document unmarshalled whole, schema 1 upgraded.
func wholeRead(t *testing.T, path string) *Results {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Schema == 1 {
		for i := range r.Partners {
			r.Partners[i].upgradeV1()
		}
		r.Schema = SchemaVersion
	}
	return &r
}

// TestOpenResults: the head and the partners read as a stream are what the
// whole document says, wherever "partners" stands and in either schema,
// and every pass reads them again.
func TestOpenResults(t *testing.T) {
	tests := []struct {
		name, file string
		count      int
		schema     int // as the file says
	}{
		{name: "schema 2, head before partners", file: "stream-v2-head-first.json", count: 3, schema: 2},
		{name: "schema 2, partners first", file: "stream-v2-partners-first.json", count: 3, schema: 2},
		{name: "schema 1, partners between fields", file: "stream-v1.json", count: 4, schema: 1},
		{name: "schema 1, the full demo run", file: "results-schema1.json", count: 39, schema: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			want := wholeRead(t, path)
			rf, err := OpenResults(path)
			if err != nil {
				t.Fatal(err)
			}
			if rf.Count != tc.count || rf.schema != tc.schema {
				t.Errorf("count %d schema %d, want %d and %d", rf.Count, rf.schema, tc.count, tc.schema)
			}
			if rf.Head.Partners != nil {
				t.Errorf("head holds %d partners", len(rf.Head.Partners))
			}
			head := *want
			head.Partners = nil
			if !reflect.DeepEqual(*rf.Head, head) {
				t.Errorf("head differs from the document's:\n got %+v\nwant %+v", *rf.Head, head)
			}
			if len(want.Changes) == 0 {
				t.Fatal("fixture without changes: the head after the partners is not tested")
			}
			for pass := range 2 {
				i := 0
				err := rf.Each(func(r *Result) error {
					if !reflect.DeepEqual(*r, want.Partners[i]) {
						t.Errorf("pass %d: partner %d (%s) differs from the document's", pass, i, r.Name)
					}
					i++
					return nil
				})
				if err != nil || i != tc.count {
					t.Errorf("pass %d: %d partners, %v", pass, i, err)
				}
			}
			n := 0
			for range rf.Partners() {
				n++
				break
			}
			if n != 1 || rf.Err() != nil {
				t.Errorf("a range stopped early: %d partners, %v", n, rf.Err())
			}
			whole, err := ReadResults(path)
			if err != nil || !reflect.DeepEqual(whole, want) {
				t.Errorf("ReadResults differs from the whole document (%v)", err)
			}
		})
	}
}

// TestOpenResultsErrors: bad files are refused naming the file, the partner and the byte.
func TestOpenResultsErrors(t *testing.T) {
	tests := []struct {
		name, file string
		cap, head  int64    // partnerCap and headCap when not 0
		atOpen     bool     // the error comes from OpenResults, else from Each
		want       []string // in the error
	}{
		{name: "truncated", file: "stream-truncated.json", atOpen: true, want: []string{"stream-truncated.json: partner 1 (from byte ", "unexpected EOF"}},
		{name: "bad JSON", file: "stream-bad-json.json", atOpen: true, want: []string{"stream-bad-json.json: partner 1 (from byte ", "invalid character ','"}},
		{name: "over the cap", file: "stream-over-cap.json", cap: 20000, atOpen: true, want: []string{"stream-over-cap.json: partner 1 (from byte ", "over 20000 bytes"}},
		{name: "a head over its cap", file: "stream-v1.json", head: 4000, atOpen: true, want: []string{"stream-v1.json: the fields other than partners are over 4000 bytes"}},
		{name: "a field of the wrong type", file: "stream-bad-type.json", want: []string{"stream-bad-type.json: partner 2 (from byte ", "port of type int"}},
		{name: "not an object", file: "../../go.mod", atOpen: true, want: []string{"go.mod: (byte "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cap > 0 {
				defer func(c int64) { partnerCap = c }(partnerCap)
				partnerCap = tc.cap
			}
			if tc.head > 0 {
				defer func(c int64) { headCap = c }(headCap)
				headCap = tc.head
			}
			path := filepath.Join("testdata", tc.file)
			rf, err := OpenResults(path)
			if !tc.atOpen {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				err = rf.Each(func(*Result) error { return nil })
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := ReadResults(path); err == nil {
				t.Error("ReadResults: no error")
			}
		})
	}
	// A file rewritten between passes is refused, not read half old, half new.
	dir := t.TempDir()
	p := filepath.Join(dir, "results.json")
	b, _ := os.ReadFile(filepath.Join("testdata", "stream-v1.json"))
	os.WriteFile(p, b, 0o644)
	rf, err := OpenResults(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, b[:len(b)-2], 0o644)
	if err := rf.Each(func(*Result) error { return nil }); err == nil || !strings.Contains(err.Error(), "changed since it was opened") {
		t.Errorf("rewritten file: %v", err)
	}
}

// writeSynthetic writes a results.json of n small partners with WriteResultsStream.
func writeSynthetic(t testing.TB, path string, n int) {
	t.Helper()
	head := &Results{Schema: SchemaVersion, Started: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		PrivateRoots: []PrivateRoot{}, InventoryErrors: []InventoryError{}}
	err := WriteResultsStream(path, head, func(fn func(*Result) error) error {
		for i := range n {
			r := Result{Partner: Partner{Name: fmt.Sprintf("Partner %07d", i), Domain: fmt.Sprintf("p%d.example", i), Port: 25},
				Verdict: Valid, Verdicts: []Verdict{Valid}}
			if err := fn(&r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// peakHeap returns the highest HeapAlloc seen while fn runs, sampled by fn through the sample func it is given.
func peakHeap(fn func(sample func())) uint64 {
	runtime.GC()
	var peak uint64
	var ms runtime.MemStats
	fn(func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	})
	return peak
}

// TestResultsFileBounded: reading 200,000 partners holds no more than reading 20,000.
func TestResultsFileBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 200,000 partners")
	}
	dir := t.TempDir()
	peaks := map[int]uint64{}
	for _, n := range []int{20_000, 200_000} {
		p := filepath.Join(dir, fmt.Sprintf("results-%d.json", n))
		writeSynthetic(t, p, n)
		peaks[n] = peakHeap(func(sample func()) {
			rf, err := OpenResults(p)
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			err = rf.Each(func(r *Result) error {
				if r.Name != fmt.Sprintf("Partner %07d", i) {
					return fmt.Errorf("partner %d is %q", i, r.Name)
				}
				if i++; i%1000 == 0 {
					sample()
				}
				return nil
			})
			if err != nil || i != n {
				t.Fatalf("%d partners read of %d: %v", i, n, err)
			}
		})
		t.Logf("%d partners: peak heap %.1f MiB", n, float64(peaks[n])/(1<<20))
	}
	if peaks[200_000] > peaks[20_000]+8<<20 {
		t.Errorf("peak heap %d bytes for 200,000 partners, %d for 20,000: grows with the partners", peaks[200_000], peaks[20_000])
	}
}
