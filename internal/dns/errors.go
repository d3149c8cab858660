package dns

import (
	"fmt"

	mdns "github.com/miekg/dns"
)

// Kind names why a lookup failed: the RCODE of the answer, or what went wrong getting one.
type Kind string

// The kinds of DNS failure.
const (
	NXDOMAIN  Kind = "NXDOMAIN"   // the name does not exist
	SERVFAIL  Kind = "SERVFAIL"   // the resolver failed (also: DNSSEC validation failed)
	REFUSED   Kind = "REFUSED"    // the resolver refused to answer
	Timeout   Kind = "timeout"    // no usable answer within the deadline
	Malformed Kind = "malformed"  // the answers were not DNS messages, or answered another question
	Network   Kind = "network"    // the resolver could not be reached (port unreachable, no route)
	BadName   Kind = "bad name"   // the name asked for is not a domain name
	NoAddress Kind = "no address" // the name exists but has no A or AAAA record (LookupHost only)
	OtherCode Kind = "rcode"      // another RCODE (FORMERR, NOTIMP, ...): see Error.Rcode
)

// Error is a failed lookup: the name and type asked, the kind of failure
// with the RCODE when there was one, the server, and the underlying error.
type Error struct {
	Name   string // the name asked for, as given
	Type   string // the record type, e.g. "MX"
	Kind   Kind
	Rcode  int    // the answer's RCODE, or -1 without an answer
	Server string // the last server asked
	AD     bool   // an NXDOMAIN came with the AD bit: its denial of existence was validated (DNSSEC)
	// Validation is, for a SERVFAIL whose extended errors (RFC 8914) say DNSSEC
	// validation failed, those errors in words (see ValidationFailure); else "".
	Validation string
	Err        error // the underlying error (a network timeout, a parse error), or nil
}

// Sentinels for errors.Is: errors.Is(err, dns.ErrNXDOMAIN) holds for every *Error of that kind.
var (
	ErrNXDOMAIN  = &Error{Kind: NXDOMAIN, Rcode: mdns.RcodeNameError}
	ErrSERVFAIL  = &Error{Kind: SERVFAIL, Rcode: mdns.RcodeServerFailure}
	ErrREFUSED   = &Error{Kind: REFUSED, Rcode: mdns.RcodeRefused}
	ErrTimeout   = &Error{Kind: Timeout, Rcode: -1}
	ErrMalformed = &Error{Kind: Malformed, Rcode: -1}
)

func (e *Error) Error() string {
	what := string(e.Kind)
	if e.Kind == OtherCode {
		what = rcodeName(e.Rcode)
	}
	s := fmt.Sprintf("DNS %s lookup of %s: %s", e.Type, e.Name, what)
	if e.Server != "" {
		s += " (resolver " + e.Server + ")"
	}
	if e.Validation != "" {
		s += ": DNSSEC validation failed: " + e.Validation
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is a sentinel (an *Error without a name) of the same kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Name == "" && t.Kind == e.Kind
}

// Timeout reports whether the lookup timed out, as net.Error does.
func (e *Error) Timeout() bool { return e.Kind == Timeout }

// NotFound reports whether the name does not exist.
func (e *Error) NotFound() bool { return e.Kind == NXDOMAIN }

func rcodeName(rcode int) string {
	if s, ok := mdns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}

func kindOf(rcode int) Kind {
	switch rcode {
	case mdns.RcodeNameError:
		return NXDOMAIN
	case mdns.RcodeServerFailure:
		return SERVFAIL
	case mdns.RcodeRefused:
		return REFUSED
	}
	return OtherCode
}
