package reports

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// peakHeap runs fn and returns the most heap (bytes in live and
// unswept objects) seen while it ran, sampled every millisecond above the
// heap in use before it started.
func peakHeap(fn func()) (peak uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := read(); h > peak {
				peak = h
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	if h := read(); h > peak {
		peak = h
	}
	if peak < base {
		return 0
	}
	return peak - base
}
