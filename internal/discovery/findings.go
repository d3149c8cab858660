package discovery

import (
	"fmt"
	"strings"

	"github.com/mxaudit/mxaudit/audit"
)

// Check names of the findings discovery makes (audit.Finding.Check).
const (
	CheckMX    = "mx"    // the partner's MX records: told to the partner
	CheckDrift = "drift" // the inventory's host is not where the domain's mail goes: about our inventory
)

// The findings of a row whose host is not among its domain's MX hosts:
// Drifted, or DriftFollowed when those MX hosts are audited too (--follow-mx).
// DriftUnknown: the domain's MX could not be looked up to check.
const (
	Drifted       FindingKind = "mx-drift"
	DriftFollowed FindingKind = "mx-drift-followed"
	DriftUnknown  FindingKind = "mx-drift-unknown"
)

// severity and remedy of each finding kind (their only home).
var findingRules = map[FindingKind]struct {
	sev    audit.Severity
	remedy string
}{
	Unresolved:    {audit.Warning, "Senders skip an MX host that does not resolve (or defer the mail while its lookup fails): ask the partner to correct or remove the MX record."},
	NoAddress:     {audit.Warning, "Senders skip an MX host without an address: ask the partner to give it an A or AAAA record, or to remove the MX record."},
	Alias:         {audit.Warning, "Ask the partner to point the MX record at the host's own name (RFC 2181 10.3, RFC 5321 5.1 forbid an alias); most MTAs follow it today, strict ones (and DANE, which looks up TLSA for the name) may not."},
	IPLiteral:     {audit.Warning, "Ask the partner to replace the IP address in its MX record with a host name; mail servers read it as a name that does not exist and never deliver there."},
	NullMixed:     {audit.Warning, "Ask the partner to remove the null MX (\"0 .\") next to its other MX records, or those records: RFC 7505 allows a null MX only alone."},
	TooMany:       {audit.Info, "Only the most preferred MX hosts and addresses are audited; audit the others separately if mail may reach them."},
	Drifted:       {audit.Error, "Mail to this domain goes to the MX hosts named, not to the host in the inventory: update the inventory's host (or remove it, so that the domain's MX hosts are audited), and check the TLS settings your mail servers keep for that host (send connector, transport map, TLS policy); run with --follow-mx to audit them meanwhile."},
	DriftUnknown:  {audit.Info, "Check the partner's domain in the inventory: its MX records could not be looked up, so the host could not be compared with them."},
	DriftFollowed: {audit.Warning, "Mail to this domain goes to the MX hosts named, which this run audited too: update the inventory's host (or remove it, so that the domain's MX hosts are audited), and check the TLS settings your mail servers keep for that host (send connector, transport map, TLS policy)."},
}

// Severity returns how serious a finding of kind k is.
func (k FindingKind) Severity() audit.Severity {
	if r, ok := findingRules[k]; ok {
		return r.sev
	}
	return audit.Info
}

// Remedy returns what our admins do about a finding of kind k.
func (k FindingKind) Remedy() string { return findingRules[k].remedy }

// Audit returns f as a finding of the partner naming the MX, or false for a
// finding that is not about the partner (an unreachable family is said once for the run).
func (f Finding) Audit() (audit.Finding, bool) {
	if f.Kind == Unreachable {
		return audit.Finding{}, false
	}
	check := CheckMX
	if f.Kind == Drifted || f.Kind == DriftFollowed || f.Kind == DriftUnknown {
		check = CheckDrift
	}
	return audit.Finding{Check: check, Severity: f.Kind.Severity(), Message: f.Message, Remedy: f.Kind.Remedy()}, true
}

// DriftFinding checks the host an inventory row names against the MX hosts
// of its domain as discovered in r: nothing when the host is one of them,
// else a finding naming where the domain's mail goes. followed says the
// real MX hosts are audited too (--follow-mx): the finding is then a warning.
func DriftFinding(r *Result, host string, followed bool) (Finding, bool) {
	listed, real := r.Drift(host)
	var msg string
	switch {
	case ipLiteral(host):
		return Finding{}, false // an address the inventory gives: not a name to compare
	case r.NullMX:
		msg = fmt.Sprintf("the inventory names %s for %s, but %s publishes a null MX (RFC 7505): it takes no mail at all", host, r.Domain, r.Domain)
	case r.Err != nil:
		return Finding{MX: host, Kind: DriftUnknown, Message: fmt.Sprintf("could not check that %s receives the mail of %s: %v", host, r.Domain, r.Err)}, true
	case listed:
		return Finding{}, false
	default:
		what := "MX hosts"
		if r.Implicit {
			what = "implicit MX (it has no MX record)"
		}
		msg = fmt.Sprintf("the inventory names %s for %s, but mail to %s goes to its %s %s", host, r.Domain, r.Domain, what, strings.Join(real, ", "))
		if followed {
			msg += "; those are audited too (--follow-mx)"
		}
	}
	if followed {
		return Finding{MX: host, Kind: DriftFollowed, Message: msg}, true
	}
	return Finding{MX: host, Kind: Drifted, Message: msg}, true
}
