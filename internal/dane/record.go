// Package dane decides what DANE for SMTP (RFC 7672, RFC 7671) makes of
// one MX host: it matches the TLSA records a resolver returned against the
// chains the server sent, and names the outcome as a sending MTA would.
//
// It does no DNS itself: the caller looks up the TLSA records (with the AD
// bit) and probes the server, and hands both to Evaluate.
package dane

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// TLSA certificate usages, selectors and matching types (RFC 6698, RFC 7218 names).
const (
	PKIXTA = 0 // usage 0: CA constraint, unusable for SMTP
	PKIXEE = 1 // usage 1: service certificate constraint, unusable for SMTP
	DANETA = 2 // usage 2: trust anchor assertion
	DANEEE = 3 // usage 3: domain-issued certificate

	Cert = 0 // selector 0: the whole certificate
	SPKI = 1 // selector 1: the SubjectPublicKeyInfo

	Full    = 0 // matching type 0: exact match
	SHA2256 = 1 // matching type 1: SHA-256
	SHA2512 = 2 // matching type 2: SHA-512
)

// Record is one TLSA record.
type Record struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte
}

// Name returns the owner name of the TLSA records of an SMTP server: _PORT._tcp.HOST.
func Name(host string, port int) string {
	return "_" + strconv.Itoa(port) + "._tcp." + dns.Fqdn(host)
}

// String writes r in presentation form, "3 1 1 <hex>".
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Usage, r.Selector, r.MatchingType, hex.EncodeToString(r.Data))
}

// Kind writes r's parameters only, "3 1 1".
func (r Record) Kind() string {
	return fmt.Sprintf("%d %d %d", r.Usage, r.Selector, r.MatchingType)
}

// ParseRecord reads a record in presentation form: "3 1 1 <hex>" (the hex may contain blanks).
func ParseRecord(s string) (Record, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return Record{}, fmt.Errorf("dane: record %q: want usage, selector, matching type and data", s)
	}
	var r Record
	for i, p := range []*uint8{&r.Usage, &r.Selector, &r.MatchingType} {
		n, err := strconv.ParseUint(f[i], 10, 8)
		if err != nil {
			return Record{}, fmt.Errorf("dane: record %q: field %d: %w", s, i+1, err)
		}
		*p = uint8(n)
	}
	data, err := hex.DecodeString(strings.Join(f[3:], ""))
	if err != nil {
		return Record{}, fmt.Errorf("dane: record %q: data: %w", s, err)
	}
	r.Data = data
	return r, nil
}

// FromRR converts a TLSA resource record from github.com/miekg/dns.
func FromRR(rr *dns.TLSA) (Record, error) {
	data, err := hex.DecodeString(rr.Certificate)
	if err != nil {
		return Record{}, fmt.Errorf("dane: %s: data: %w", rr.Hdr.Name, err)
	}
	return Record{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data}, nil
}

// Usable reports whether r can authenticate an SMTP server (RFC 7672 section 3.1.3):
// usage DANE-TA or DANE-EE, a known selector and a known matching type.
func (r Record) Usable() bool {
	return (r.Usage == DANETA || r.Usage == DANEEE) && r.Selector <= SPKI && r.MatchingType <= SHA2512
}

// Matches reports whether r's data matches c under r's selector and
// matching type; the usage is not looked at.
func (r Record) Matches(c *x509.Certificate) bool {
	var content []byte
	switch r.Selector {
	case Cert:
		content = c.Raw
	case SPKI:
		content = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	d, ok := digest(r.MatchingType, content)
	return ok && bytes.Equal(d, r.Data)
}

func digest(matchingType uint8, content []byte) ([]byte, bool) {
	switch matchingType {
	case Full:
		return content, true
	case SHA2256:
		s := sha256.Sum256(content)
		return s[:], true
	case SHA2512:
		s := sha512.Sum512(content)
		return s[:], true
	}
	return nil, false
}

// For returns the record of the given usage, selector and matching type that matches c.
func For(usage, selector, matchingType uint8, c *x509.Certificate) Record {
	content := c.Raw
	if selector == SPKI {
		content = c.RawSubjectPublicKeyInfo
	}
	d, _ := digest(matchingType, content)
	return Record{Usage: usage, Selector: selector, MatchingType: matchingType, Data: d}
}

// strength orders the digest matching types for RFC 7671 section 9
// (digest algorithm agility): only the strongest present is used.
func strength(matchingType uint8) int {
	switch matchingType {
	case SHA2256:
		return 1
	case SHA2512:
		return 2
	}
	return 0
}

// agile drops the usable records RFC 7671 section 9 tells a client to
// ignore: a digest weaker than another digest published for the same usage
// and selector. Full(0) records are not digests and always stay.
func agile(rs []Record) (kept, ignored []Record) {
	best := map[[2]uint8]int{}
	for _, r := range rs {
		k := [2]uint8{r.Usage, r.Selector}
		best[k] = max(best[k], strength(r.MatchingType))
	}
	for _, r := range rs {
		if r.MatchingType != Full && strength(r.MatchingType) < best[[2]uint8{r.Usage, r.Selector}] {
			ignored = append(ignored, r)
			continue
		}
		kept = append(kept, r)
	}
	return kept, ignored
}
