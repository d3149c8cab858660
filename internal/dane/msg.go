package dane

import (
	"errors"
	"strings"

	"github.com/miekg/dns"
)

// FromMsg builds the Lookup of the TLSA answer m, or of the query error err,
// for a host whose address records were (or were not) DNSSEC-validated.
// A record whose data is not hex is left out.
func FromMsg(hostSecure bool, m *dns.Msg, err error) Lookup {
	l := Lookup{HostSecure: hostSecure, Err: err}
	if err != nil || m == nil {
		if l.Err == nil {
			l.Err = errNoAnswer
		}
		return l
	}
	l.Rcode, l.Secure = m.Rcode, m.AuthenticatedData
	for _, rr := range m.Answer {
		if t, ok := rr.(*dns.TLSA); ok {
			if r, err := FromRR(t); err == nil {
				l.Records = append(l.Records, r)
			}
		}
	}
	l.Reason = ede(m)
	return l
}

var errNoAnswer = errors.New("no answer")

// ValidationFailure reports whether m is a SERVFAIL that the resolver says
// is a DNSSEC validation failure (RFC 8914 extended errors 1 to 12, such as
// "DNSSEC Bogus" or "Signature Expired"), and its words.
func ValidationFailure(m *dns.Msg) (string, bool) {
	if m == nil || m.Rcode != dns.RcodeServerFailure {
		return "", false
	}
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok && e.InfoCode >= dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm && e.InfoCode <= dns.ExtendedErrorCodeNSECMissing {
				return ede(m), true
			}
		}
	}
	return "", false
}

// ede returns the extended DNS errors of m in words.
func ede(m *dns.Msg) string {
	var out []string
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				s := dns.ExtendedErrorCodeToString[e.InfoCode]
				if e.ExtraText != "" {
					s += ": " + e.ExtraText
				}
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, "; ")
}
