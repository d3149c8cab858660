package mtasts

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Record is a domain's _mta-sts TXT record (RFC 8461 section 3.1).
type Record struct {
	ID         string            // the policy id: 1 to 32 letters and digits
	Extensions map[string]string // other fields, by name
}

// ErrNoRecord means no TXT record of the domain starts with v=STSv1: the domain publishes no MTA-STS policy.
var ErrNoRecord = errors.New("mtasts: no v=STSv1 TXT record")

// RecordName returns the owner name of a domain's MTA-STS TXT record, _mta-sts.DOMAIN.
func RecordName(domain string) string { return "_mta-sts." + dns.Fqdn(domain) }

// PolicyHost returns the host that serves a domain's policy, mta-sts.DOMAIN.
func PolicyHost(domain string) string { return "mta-sts." + strings.TrimSuffix(domain, ".") }

// PolicyURL returns where a domain's policy is fetched from.
func PolicyURL(domain string) string { return "https://" + PolicyHost(domain) + wellKnownPath }

// ParseRecords picks the MTA-STS record among a name's TXT records (each one
// its strings joined) as RFC 8461 section 3.1 says: records that do not
// start with v=STSv1 are discarded; none left is ErrNoRecord, more than one
// or a bad one is an error.
func ParseRecords(txts []string) (*Record, error) {
	var sts []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, "v=STSv1"); ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
			sts = append(sts, t)
		}
	}
	switch len(sts) {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(sts[0])
	}
	return nil, fmt.Errorf("mtasts: %d v=STSv1 TXT records, senders need exactly one", len(sts))
}

// ParseRecord parses one TXT record: "v=STSv1; id=20260601T000000;" with optional extensions.
func ParseRecord(txt string) (*Record, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return nil, fmt.Errorf("mtasts: TXT record %q does not start with v=STSv1", txt)
	}
	r := &Record{}
	for i, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			if i == len(fields)-2 {
				break // a trailing ";"
			}
			return nil, fmt.Errorf("mtasts: TXT record %q: field %d is empty", txt, i+2)
		}
		name, value, ok := strings.Cut(f, "=")
		if !ok || !validName(name) {
			return nil, fmt.Errorf("mtasts: TXT record %q: field %q is not name=value", txt, f)
		}
		if value == "" || strings.ContainsAny(value, " \t=") || strings.IndexFunc(value, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return nil, fmt.Errorf("mtasts: TXT record %q: field %q: bad value", txt, name)
		}
		if name == "id" {
			if r.ID != "" {
				continue // the first counts
			}
			if len(value) > maxIDLen || strings.IndexFunc(value, func(r rune) bool { return !isAlnum(byte(r)) || r > 0x7f }) >= 0 {
				return nil, fmt.Errorf("mtasts: TXT record %q: id %q is not 1 to 32 letters and digits", txt, value)
			}
			r.ID = value
			continue
		}
		if r.Extensions == nil {
			r.Extensions = map[string]string{}
		}
		r.Extensions[name] = value
	}
	if r.ID == "" {
		return nil, fmt.Errorf("mtasts: TXT record %q has no id", txt)
	}
	return r, nil
}

// JoinTXT returns the TXT records of a DNS answer, each record's strings
// joined (RFC 8461 section 3.1: a record split into strings is one record).
func JoinTXT(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out
}
