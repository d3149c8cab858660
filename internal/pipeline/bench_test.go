package pipeline

import (
	"context"
	"net"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/dns"
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
		// Every host of this fleet is under bench.example, one "provider"
		// for --per-provider: lift that limit, the pool is what is measured.
		res := ProbeAll(context.Background(), partners, Options{
			Probe: probe.Options{HELO: "bench.test", OneKeyType: oneKeyType}, Resolver: f.Resolver, Roots: pool, Now: f.Now,
			PerProvider: 1000,
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

// BenchmarkDomains1000 audits 1,000 partner domains with two MX hosts each,
// 40% of them on 5 shared provider MX hosts, with 50 ms before every SMTP
// reply line and 20 ms before every DNS answer, at the default concurrency
// and limits (--per-host 2, --per-provider 10). It reports the wall time
// against the floor (the reply lines the servers wrote, times 50 ms,
// divided by the concurrency): goal under 1.5 times the floor.
// The published-policies stage runs as it does by default with a resolver
// that is not trusted for DNSSEC: the MTA-STS and TLS-RPT TXT lookups
// (which find nothing), no TLSA.
func BenchmarkDomains1000(b *testing.B) { benchDomains(b, false, policiesDefault) }

// BenchmarkDomains1000OneKeyType is BenchmarkDomains1000 without the extra
// handshake per key type.
func BenchmarkDomains1000OneKeyType(b *testing.B) { benchDomains(b, true, policiesDefault) }

// BenchmarkDomains1000NoPolicies is BenchmarkDomains1000 without the
// published-policies stage (--no-policies): the baseline of issue 12.
func BenchmarkDomains1000NoPolicies(b *testing.B) { benchDomains(b, false, policiesOff) }

// BenchmarkDomains1000Published is BenchmarkDomains1000 where every domain
// publishes everything: AD-bit answers from a trusted resolver, a TLSA
// record per MX host (one lookup each), an MTA-STS policy in enforce mode
// fetched over HTTPS (one fetch per domain) and TLS-RPT. Goal: under 20%
// over BenchmarkDomains1000NoPolicies.
func BenchmarkDomains1000Published(b *testing.B) { benchDomains(b, false, policiesPublished) }

const (
	policiesDefault = iota
	policiesOff
	policiesPublished
)

func benchDomains(b *testing.B, oneKeyType bool, policies int) {
	const lineDelay, concurrency = 50 * time.Millisecond, 100
	f, ns, err := fleet.StartDomainBench(fleet.DomainBench{Domains: 1000, Shared: 0.4, Providers: 5, LineDelay: lineDelay, DNSDelay: 20 * time.Millisecond,
		Published: policies == policiesPublished})
	if err != nil {
		b.Fatal(err)
	}
	var pub Published
	switch policies {
	case policiesOff:
		pub.Off = true
	case policiesPublished:
		_, port, _ := net.SplitHostPort(f.Policies.Addr)
		pub.DNSSECTrusted, pub.Roots = true, f.RootsPool()
		pub.HTTPSPort, _ = strconv.Atoi(port)
	}
	defer f.Close()
	pool := f.RootsPool()
	rows := f.Partners()
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		r, err := dns.New(dns.Config{Servers: []string{ns.Addr}}) // a new run: an empty cache
		if err != nil {
			b.Fatal(err)
		}
		lines0, queries0 := f.Lines(), dnsQueries(ns)
		start := time.Now()
		stop := watchHeap(&peak)
		res := ProbeAll(context.Background(), rows, Options{
			Concurrency: concurrency, DNS: r, Roots: pool, Now: f.Now,
			Probe: probe.Options{HELO: "bench.test", OneKeyType: oneKeyType}, Published: pub,
		})
		stop()
		el := time.Since(start)
		targets := 0
		for _, p := range res.Partners {
			if p.Verdict != audit.Valid || len(p.Targets) != 2 {
				b.Fatalf("%s: %v %v %s", p.Name, p.Verdicts, p.Details, p.Error)
			}
			if pol := p.Policies; policies == policiesPublished && (pol == nil || pol.DANE != "valid" || pol.MTASTS != "enforce" || pol.TLSRPT != "present") {
				b.Fatalf("%s: policies %+v", p.Name, pol)
			}
			targets += len(p.Targets)
		}
		if policies == policiesPublished {
			b.ReportMetric(float64(f.Policies.Fetches()), "sts-fetches")
		}
		floor := time.Duration(f.Lines()-lines0) * lineDelay / concurrency
		b.ReportMetric(el.Seconds(), "s/run")
		b.ReportMetric(floor.Seconds(), "floor-s")
		b.ReportMetric(el.Seconds()/floor.Seconds(), "x-floor")
		b.ReportMetric(float64(dnsQueries(ns)-queries0), "dns-queries")
		b.ReportMetric(float64(targets), "targets")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

func dnsQueries(s *fleet.DNSServer) int {
	n, _ := s.Total()
	return n
}
