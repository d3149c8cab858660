package discovery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

// benchZone: n domains with 2 MX each; 40% of them on 5 shared provider MX
// hosts, the others on 2 hosts of their own. Every host has an A and an AAAA.
func benchZone(n int) (zone []string, queries []discovery.Query) {
	host := func(name string, i int) {
		zone = append(zone, fmt.Sprintf("%s 300 IN A 127.1.%d.%d", name, i/250, i%250+1),
			fmt.Sprintf("%s 300 IN AAAA ::1", name))
	}
	for p := range 5 {
		host(fmt.Sprintf("mx%d.provider.test.", p), p)
	}
	shared := 0
	for i := range n {
		d := fmt.Sprintf("partner%04d.test.", i)
		if i%5 < 2 {
			zone = append(zone, fmt.Sprintf("%s 300 IN MX 10 mx%d.provider.test.", d, shared%5),
				fmt.Sprintf("%s 300 IN MX 20 mx%d.provider.test.", d, (shared+1)%5))
			shared++
		} else {
			zone = append(zone, fmt.Sprintf("%s 300 IN MX 10 mx1.%s", d, d), fmt.Sprintf("%s 300 IN MX 20 mx2.%s", d, d))
			host("mx1."+d, i)
			host("mx2."+d, i)
		}
		queries = append(queries, discovery.Query{Domain: d})
	}
	return zone, queries
}

// BenchmarkDiscovery1000: 1,000 domains against a resolver answering in 20 ms, 100 at a time.
func BenchmarkDiscovery1000(b *testing.B) {
	zone, qs := benchZone(1000)
	srv, err := fleet.NewDNSServer(fleet.DNSOptions{Delay: 20 * time.Millisecond}, zone...)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	var targets, queries int
	for b.Loop() {
		r, err := dns.New(dns.Config{Servers: []string{srv.Addr}}) // a new run: an empty cache
		if err != nil {
			b.Fatal(err)
		}
		res := discovery.Many(context.Background(), r, qs, discovery.Options{}, 100)
		targets = 0
		for _, x := range res {
			if x.Err != nil || len(x.Findings) > 0 {
				b.Fatalf("%s: %v %v", x.Domain, x.Err, x.Findings)
			}
			targets += len(x.Targets)
		}
		queries = r.Stats().Queries
	}
	if targets != 1000*2*2 {
		b.Fatalf("%d targets, want 4000", targets)
	}
	b.ReportMetric(float64(queries), "queries/run")
}
