// Package tlsrpt reads a mail domain's SMTP TLS Reporting (RFC 8460)
// record: the _smtp._tls TXT record and where reports go.
//
// It does no DNS itself: the caller looks up the TXT record and hands the
// strings (each record's strings joined) to Evaluate.
package tlsrpt

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/miekg/dns"
	"github.com/mxaudit/mxaudit/audit"
)

// Check is the name findings of this package carry.
const Check = "tls-rpt"

// Version is the record version this package reads.
const Version = "v=TLSRPTv1"

// Record is a parsed TLS-RPT record.
type Record struct {
	RUA        []string          // the report URIs: mailto: or https:
	Extensions map[string]string // other fields, by name
}

// ErrNoRecord means no TXT record of the name starts with v=TLSRPTv1.
var ErrNoRecord = errors.New("tlsrpt: no v=TLSRPTv1 TXT record")

// RecordName returns the owner name of a domain's TLS-RPT record, _smtp._tls.DOMAIN.
func RecordName(domain string) string { return "_smtp._tls." + dns.Fqdn(domain) }

// ParseRecords picks the TLS-RPT record among a name's TXT records as RFC
// 8460 section 3 says: records not starting with v=TLSRPTv1 are discarded;
// none left is ErrNoRecord, more than one or a bad one is an error.
func ParseRecords(txts []string) (*Record, error) {
	var rpt []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, Version); ok && strings.HasPrefix(strings.TrimLeft(rest, " \t"), ";") {
			rpt = append(rpt, t)
		}
	}
	switch len(rpt) {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(rpt[0])
	}
	return nil, fmt.Errorf("tlsrpt: %d v=TLSRPTv1 TXT records, senders need exactly one", len(rpt))
}

// ParseRecord parses one record: "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/tlsrpt".
func ParseRecord(txt string) (*Record, error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != Version {
		return nil, fmt.Errorf("tlsrpt: TXT record %q does not start with %s", txt, Version)
	}
	r := &Record{}
	seenRUA := false
	for i, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			if i == len(fields)-2 {
				break // a trailing ";"
			}
			return nil, fmt.Errorf("tlsrpt: TXT record %q: field %d is empty", txt, i+2)
		}
		name, value, ok := strings.Cut(f, "=")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("tlsrpt: TXT record %q: field %q is not name=value", txt, f)
		}
		if name != "rua" {
			if r.Extensions == nil {
				r.Extensions = map[string]string{}
			}
			r.Extensions[name] = value
			continue
		}
		if seenRUA {
			return nil, fmt.Errorf("tlsrpt: TXT record %q: rua given twice", txt)
		}
		seenRUA = true
		for _, u := range strings.Split(value, ",") {
			u = strings.Trim(u, " \t")
			if err := checkURI(u); err != nil {
				return nil, fmt.Errorf("tlsrpt: TXT record %q: rua %q: %w", txt, u, err)
			}
			r.RUA = append(r.RUA, u)
		}
	}
	if !seenRUA {
		return nil, fmt.Errorf("tlsrpt: TXT record %q has no rua", txt)
	}
	return r, nil
}

// checkURI accepts a mailto: URI with one address or an https: URL with a host.
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch strings.ToLower(u.Scheme) {
	case "mailto":
		addr, err := url.PathUnescape(u.Opaque)
		if err != nil || addr == "" {
			return errors.New("mailto: without an address")
		}
		if _, err := mail.ParseAddress(addr); err != nil || strings.ContainsAny(addr, "<> ,") {
			return fmt.Errorf("mailto: %q is not an address", addr)
		}
	case "https":
		if u.Host == "" || u.Opaque != "" {
			return errors.New("https: URL without a host")
		}
	default:
		return fmt.Errorf("scheme %q: only mailto: and https: are allowed", u.Scheme)
	}
	return nil
}

// Status sums up a domain's TLS-RPT.
type Status string

// Statuses.
const (
	Absent  Status = "absent"  // no v=TLSRPTv1 record
	Invalid Status = "invalid" // a record senders cannot use
	Present Status = "present" // a usable record; Record.RUA says where reports go
)

// Result is TLS-RPT's outcome for one domain.
type Result struct {
	Status   Status
	Record   *Record
	Detail   string
	Findings []audit.Finding // Check is "tls-rpt"
}

// Evaluate reads the TXT records of _smtp._tls.DOMAIN (each record's strings
// joined), or the lookup's error.
func Evaluate(domain string, txts []string, lookupErr error) Result {
	name := RecordName(domain)
	if lookupErr != nil {
		return Result{Status: Invalid, Detail: fmt.Sprintf("the TXT lookup of %s failed: %v", name, lookupErr),
			Findings: []audit.Finding{{Check: Check, Severity: audit.Warning,
				Message: fmt.Sprintf("the TLS-RPT record %s could not be looked up: %v", name, lookupErr),
				Remedy:  "Ask the partner to check the DNS of its domain."}}}
	}
	r, err := ParseRecords(txts)
	switch {
	case errors.Is(err, ErrNoRecord):
		return Result{Status: Absent, Detail: "no TLS-RPT record at " + name,
			Findings: []audit.Finding{{Check: Check, Severity: audit.Info,
				Message: "the partner publishes no TLS-RPT record: senders cannot tell it about failed TLS deliveries",
				Remedy:  "Suggest that the partner publishes _smtp._tls TXT \"v=TLSRPTv1; rua=mailto:...\" to receive RFC 8460 reports."}}}
	case err != nil:
		return Result{Status: Invalid, Detail: err.Error(),
			Findings: []audit.Finding{{Check: Check, Severity: audit.Warning,
				Message: "the TLS-RPT record is invalid, senders ignore it: " + err.Error(),
				Remedy:  "Ask the partner to correct _smtp._tls TXT: \"v=TLSRPTv1; rua=mailto:addr\" or rua=https://..."}}}
	}
	return Result{Status: Present, Record: r, Detail: "TLS reports go to " + strings.Join(r.RUA, ", ")}
}

// Apply records r's findings in a partner's result, and the TLS-RPT facts in facts, if not nil.
func (r Result) Apply(res *audit.Result, facts *audit.Policies) {
	if facts == nil {
		facts = &audit.Policies{}
	}
	facts.TLSRPT = string(r.Status)
	if r.Record != nil {
		facts.TLSRPTRUA = r.Record.RUA
	}
	res.Findings = append(res.Findings, r.Findings...)
}
