package pipeline

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
)

// BenchmarkAudit1000 audits 1,000 simulated partners, each on its own
// loopback address, with 50 ms added before every SMTP reply line, at the
// default concurrency. Target: under 5 s per run on a 2-core machine.
// Each probe makes one extra handshake for the other key type (RSA or
// ECDSA), which these one-certificate servers refuse at once.
func BenchmarkAudit1000(b *testing.B) { benchAudit(b, false) }

// BenchmarkAudit1000OneKeyType is BenchmarkAudit1000 without the extra
// handshake per key type: the difference is its cost.
func BenchmarkAudit1000OneKeyType(b *testing.B) { benchAudit(b, true) }

func benchAudit(b *testing.B, oneKeyType bool) {
	f, err := fleet.StartMany(1000, 50*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	pool := f.RootsPool()
	partners := f.Partners()
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		stop := watchHeap(&peak)
		res := ProbeAll(context.Background(), partners, Options{
			Probe: probe.Options{HELO: "bench.test", OneKeyType: oneKeyType}, Resolver: f.Resolver, Roots: pool, Now: f.Now,
		})
		stop()
		el := time.Since(start)
		for _, r := range res.Partners {
			if r.Verdict != audit.Valid {
				b.Fatalf("%s: %v %s", r.Name, r.Verdicts, r.Error)
			}
		}
		b.ReportMetric(float64(len(partners))/el.Seconds(), "partners/s")
		b.ReportMetric(el.Seconds(), "s/run")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// watchHeap samples the live heap every 10 ms and keeps its peak.
func watchHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished; runtime.KeepAlive(s) }
}
