package dns

import (
	"errors"
	"strings"

	mdns "github.com/miekg/dns"
)

// ValidationFailure reports whether m is a SERVFAIL that the resolver says
// is a DNSSEC validation failure (RFC 8914 extended errors 1 to 12, such as
// "DNSSEC Bogus" or "Signature Expired"), and its extended errors in words.
func ValidationFailure(m *mdns.Msg) (string, bool) {
	if m == nil || m.Rcode != mdns.RcodeServerFailure {
		return "", false
	}
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*mdns.EDNS0_EDE); ok && e.InfoCode >= mdns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm && e.InfoCode <= mdns.ExtendedErrorCodeNSECMissing {
				return ExtendedErrors(m), true
			}
		}
	}
	return "", false
}

// ExtendedErrors returns the extended DNS errors (RFC 8914) of m in words, "Signature Expired: ...; ...".
func ExtendedErrors(m *mdns.Msg) string {
	var out []string
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*mdns.EDNS0_EDE); ok {
				s := mdns.ExtendedErrorCodeToString[e.InfoCode]
				if e.ExtraText != "" {
					s += ": " + e.ExtraText
				}
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, "; ")
}

// Bogus returns the words of the DNSSEC validation failure err carries (an
// *Error whose resolver said validation failed), or false.
func Bogus(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) && e.Validation != "" {
		return e.Validation, true
	}
	return "", false
}
