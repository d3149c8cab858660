package dane

import (
	"errors"
	"testing"

	"github.com/miekg/dns"
	mxdns "github.com/mxaudit/mxaudit/internal/dns"
)

func TestFromMsgAndValidationFailure(t *testing.T) {
	answer := func(rcode int, ad bool, ede uint16, rrs ...string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("_25._tcp.mx.example.com.", dns.TypeTLSA)
		m.Rcode, m.AuthenticatedData = rcode, ad
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				t.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		if ede != 0 {
			m.SetEdns0(1232, true)
			opt := m.IsEdns0()
			opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: ede, ExtraText: "validation failure"})
		}
		return m
	}
	tests := []struct {
		name    string
		m       *dns.Msg
		err     error
		records int
		secure  bool
		bogus   bool
		reason  string
	}{
		{"secure answer through a CNAME", answer(dns.RcodeSuccess, true, 0,
			"_25._tcp.mx.example.com. 300 IN CNAME _25._tcp.mx.provider.test.",
			"_25._tcp.mx.provider.test. 300 IN TLSA 3 1 1 0011223344556677889900112233445566778899001122334455667788990011"), nil, 1, true, false, ""},
		{"signature expired", answer(dns.RcodeServerFailure, false, dns.ExtendedErrorCodeSignatureExpired), nil, 0, false, true, "Signature Expired: validation failure"},
		{"SERVFAIL for another reason", answer(dns.RcodeServerFailure, false, dns.ExtendedErrorCodeNoReachableAuthority), nil, 0, false, false, "No Reachable Authority: validation failure"},
		{"SERVFAIL without a reason", answer(dns.RcodeServerFailure, false, 0), nil, 0, false, false, ""},
		{"no answer at all", nil, errors.New("i/o timeout"), 0, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := FromMsg(true, tc.m, tc.err)
			if len(l.Records) != tc.records || l.Secure != tc.secure || l.Reason != tc.reason || (tc.err != nil) != (l.Err != nil) {
				t.Errorf("FromMsg = %+v", l)
			}
			if _, bogus := mxdns.ValidationFailure(tc.m); bogus != tc.bogus {
				t.Errorf("ValidationFailure = %v, want %v", bogus, tc.bogus)
			}
		})
	}
}
