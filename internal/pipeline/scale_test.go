package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/spill"
	"github.com/mxaudit/mxaudit/reports"
)

// Scale bench (make bench-scale, never make test): MXAUDIT_SCALE targets,
// one partner each on its own loopback address, at concurrency 2,000.
// scaleAnswering of them are servers of a loopback fleet answering at once
// (STARTTLS, a TLS handshake per key type); the others are addresses of
// 127.64.0.0/10 where nothing listens on port scaleClosedPort (connection
// refused). Every result leaves memory as it completes, into a spill file,
// and results.json, then partners.csv, targets.csv and findings.csv, are
// written from it in inventory order. It prints wall
// time, targets/s and this process's peak RSS (the fleet's servers
// included); run each size in its own process so the peaks are each its own.
const (
	scaleAnswering  = 1000
	scaleClosedPort = 1
	scaleConc       = 2000
)

func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MXAUDIT_SCALE"))
	if n <= 0 {
		t.Skip("MXAUDIT_SCALE=<targets> not set: the scale bench runs from make bench-scale only")
	}
	f, err := fleet.StartMany(min(scaleAnswering, n), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := f.Partners()
	for i := len(rows); i < n; i++ {
		k := i + 1 // 127.64.0.1 onwards: 4M addresses
		addr := fmt.Sprintf("127.%d.%d.%d", 64+k>>16, k>>8&0xff, k&0xff)
		rows = append(rows, audit.Partner{Line: i + 2, Name: fmt.Sprintf("closed-%07d", i), Host: fmt.Sprintf("closed-%07d.bench.example", i),
			Address: addr, Port: scaleClosedPort, TLS: audit.StartTLS})
	}
	dir := t.TempDir()
	st, err := spill.Create[audit.Result](dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	verdicts := map[audit.Verdict]int{}
	var putErr error
	rows = rows[:n:n]
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	inventory := ms.HeapAlloc // the inventory's rows (and the fleet), before the run
	var peakHeap uint64
	stopHeap := watchHeap(&peakHeap)
	start := time.Now()
	if prof := os.Getenv("MXAUDIT_SCALE_HEAP"); prof != "" {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		go func() {
			for k := 1; ; k++ {
				if _, ok := <-tick.C; !ok {
					return
				}
				writeHeap(t, fmt.Sprintf("%s.%d", prof, 10*k))
			}
		}()
	}
	res := ProbeAll(context.Background(), rows, Options{
		Concurrency: scaleConc, PerProvider: scaleConc, Resolver: f.Resolver, Roots: f.RootsPool(), Now: f.Now,
		Probe: probe.Options{HELO: "bench.test", Timeout: 30 * time.Second, ConnectTimeout: 10 * time.Second},
		Emit: func(i int, r audit.Result, _ []audit.Partner) {
			mu.Lock()
			defer mu.Unlock()
			verdicts[r.Verdict]++
			if err := st.Put(i, &r); err != nil && putErr == nil {
				putErr = err
			}
		},
	})
	probed := time.Since(start)
	var probedHeap uint64 = peakHeap
	if putErr != nil {
		t.Fatal(putErr)
	}
	if st.Count() != n || res.Incomplete {
		t.Fatalf("not every partner emitted (incomplete %v)", res.Incomplete)
	}
	path := filepath.Join(dir, "results.json")
	written := 0
	if err := audit.WriteResultsStream(path, res, func(fn func(*audit.Result) error) error {
		return st.Each(func(_ int, r *audit.Result) error { written++; return fn(r) })
	}); err != nil {
		t.Fatal(err)
	}
	jsonDone := time.Since(start)
	csvStart := time.Now()
	seq, serr := spilledPartners(st).seq()
	if _, err := reports.WriteAllFrom(context.Background(), dir, res, seq, []reports.Format{reports.CSV}, false, reports.Options{NoFontSearch: true}); err != nil {
		t.Fatal(err)
	}
	if err := serr(); err != nil {
		t.Fatal(err)
	}
	csvTime := time.Since(csvStart)
	wall := time.Since(start)
	stopHeap()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var csvBytes int64
	for _, name := range []string{reports.FilePartnersCSV, reports.FileTargetsCSV, reports.FileFindingsCSV} {
		ci, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		csvBytes += ci.Size()
	}
	if want := min(scaleAnswering, n); verdicts[audit.Valid] != want || verdicts[audit.ConnectionRefused] != n-want || written != n {
		t.Fatalf("verdicts %v, %d written; want %d Valid and %d ConnectionRefused", verdicts, written, want, n-want)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("scale: %d targets (%d answering, %d refused), concurrency %d: probed in %s, with results.json (%d MB) %s, CSV reports from the spill file (%d MB) in %s, %.0f targets/s, peak RSS %d MB (heap at most %d MB while probing, %d MB in all; %d MB of it the inventory's rows and the fleet before the run), CPU %s user %s sys\n",
		n, verdicts[audit.Valid], verdicts[audit.ConnectionRefused], scaleConc, probed.Round(time.Millisecond), fi.Size()>>20,
		jsonDone.Round(time.Millisecond), csvBytes>>20, csvTime.Round(time.Millisecond), float64(n)/wall.Seconds(), ru.Maxrss>>10, probedHeap>>20, peakHeap>>20, inventory>>20,
		time.Duration(ru.Utime.Nano()).Round(time.Second), time.Duration(ru.Stime.Nano()).Round(time.Second))
}

// writeHeap writes a heap profile to path (MXAUDIT_SCALE_HEAP): where the
// memory of a scale run goes.
func writeHeap(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Error(err)
	}
}
