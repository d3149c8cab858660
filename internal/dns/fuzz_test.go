package dns

import (
	"testing"

	mdns "github.com/miekg/dns"
)

// FuzzAnswer: whatever bytes come back as an answer, checking and reading it never panics,
// and what it yields stays within its bounds.
func FuzzAnswer(f *testing.F) {
	q := new(mdns.Msg)
	q.SetQuestion("example.test.", mdns.TypeMX)
	q.Id = 4242
	for _, rrs := range [][]string{
		{"example.test. 60 IN MX 10 mx.example.test."},
		{"example.test. 60 IN CNAME a.example.test.", "a.example.test. 60 IN CNAME example.test."},
		{"example.test. 60 IN MX 0 ."},
		{"example.test. 60 IN TXT \"v=STSv1; id=1\""},
	} {
		m := new(mdns.Msg)
		m.SetReply(q)
		for _, s := range rrs {
			rr, _ := mdns.NewRR(s)
			m.Answer = append(m.Answer, rr)
		}
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Add([]byte("\x10\x92\x81\x80\x00\x01\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		q := q.Copy()
		for _, qtype := range []uint16{mdns.TypeMX, mdns.TypeA, mdns.TypeTXT, mdns.TypeTLSA} {
			q.Question[0].Qtype = qtype
			m, err := matching(q, b)
			if err != nil {
				continue
			}
			a, next := parse(m, "example.test.", qtype)
			if len(a.Records) > MaxRecords || len(a.CNAMEs) > maxCNAMEs+1 || a.TTL > negativeTTLCap && len(a.Records) == 0 {
				t.Fatalf("unbounded answer: %d records, %d aliases, TTL %d", len(a.Records), len(a.CNAMEs), a.TTL)
			}
			if next != "" && len(a.CNAMEs) == 0 {
				t.Fatalf("next %q without an alias", next)
			}
			a.MX()
			a.Addrs()
			a.TXT()
			a.TLSA()
		}
	})
}
