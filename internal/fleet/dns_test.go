package fleet_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
	"github.com/mxaudit/mxaudit/internal/fleet"
)

func TestDNSServerRejectsBadRecords(t *testing.T) {
	_, err := fleet.NewDNSServer(fleet.DNSOptions{}, "ok.test. 60 IN A 127.0.0.1", "bad.test. 60 IN MX ten mx.test.")
	if err == nil || !strings.Contains(err.Error(), `record 2 "bad.test. 60 IN MX ten mx.test."`) {
		t.Fatalf("err = %v, want one naming record 2", err)
	}
}

// The server answers the same over UDP and TCP, truncates over UDP past MaxUDP, and counts.
func TestDNSServer(t *testing.T) {
	var recs []string
	for i := range 40 {
		recs = append(recs, fmt.Sprintf("big.test. 60 IN A 127.0.2.%d", i+1))
	}
	srv, err := fleet.NewDNSServer(fleet.DNSOptions{MaxUDP: 512, NoEDNS0: true}, append(recs, "small.test. 60 IN A 127.0.0.1")...)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetRcode("refused.test", mdns.RcodeRefused)
	tests := []struct {
		name, net, qname string
		rcode, answers   int
		truncated        bool
	}{
		{"small over UDP", "udp", "small.test.", mdns.RcodeSuccess, 1, false},
		{"small over TCP", "tcp", "small.test.", mdns.RcodeSuccess, 1, false},
		{"big over UDP is truncated", "udp", "big.test.", mdns.RcodeSuccess, -1, true},
		{"big over TCP is whole", "tcp", "big.test.", mdns.RcodeSuccess, 40, false},
		{"NXDOMAIN", "udp", "none.test.", mdns.RcodeNameError, 0, false},
		{"forced REFUSED", "tcp", "refused.test.", mdns.RcodeRefused, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &mdns.Client{Net: tt.net, Timeout: 2 * time.Second}
			q := new(mdns.Msg)
			q.SetQuestion(tt.qname, mdns.TypeA)
			q.SetEdns0(4096, false)
			m, _, err := c.Exchange(q, srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != tt.rcode || m.Truncated != tt.truncated || !m.Authoritative && tt.rcode == mdns.RcodeSuccess {
				t.Errorf("rcode %d TC %v AA %v", m.Rcode, m.Truncated, m.Authoritative)
			}
			if tt.answers >= 0 && len(m.Answer) != tt.answers {
				t.Errorf("%d answers, want %d", len(m.Answer), tt.answers)
			}
			if m.Compress = true; tt.truncated && m.Len() > 512 {
				t.Errorf("a %d-byte UDP answer", m.Len()) // as compressed on the wire
			}
		})
	}
	if all, tcp := srv.Total(); all != len(tests) || tcp != 3 {
		t.Errorf("Total = %d, %d over TCP; want %d, 3", all, tcp, len(tests))
	}
	if n := srv.Queries("BIG.test", "a"); n != 2 {
		t.Errorf("Queries(big.test, A) = %d, want 2", n)
	}
}

// The fleet served over DNS: every partner's domain has its host as MX, and the host its address.
func TestFleetOverDNS(t *testing.T) {
	f, err := fleet.Start(fleet.Options{Now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC), NoDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srv, err := f.ServeDNS(fleet.DNSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := dns.New(dns.Config{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, sc := range f.Scenarios {
		p := sc.Partner
		ip, port, err := net.SplitHostPort(p.Address)
		if err != nil || p.Host == "" || p.Domain == "" {
			continue
		}
		res := discovery.Domain(context.Background(), r, p.Domain, p.Port, discovery.Options{})
		if listed, real := res.Drift(p.Host); !listed {
			t.Errorf("%s: host %s not among the MX of %s: %v (%v)", p.Name, p.Host, p.Domain, real, res.Err)
		}
		var addrs []string
		for _, tg := range res.Targets {
			if strings.EqualFold(tg.MX, p.Host) {
				addrs = append(addrs, tg.Address())
			}
		}
		if want := net.JoinHostPort(ip, port); !slices.Contains(addrs, want) {
			t.Errorf("%s: targets %v lack %s", p.Name, addrs, want)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("only %d partners checked", checked)
	}
}
