package dane

import (
	"errors"

	"github.com/miekg/dns"
	mxdns "github.com/mxaudit/mxaudit/internal/dns"
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
	l.Reason = mxdns.ExtendedErrors(m)
	return l
}

var errNoAnswer = errors.New("no answer")
