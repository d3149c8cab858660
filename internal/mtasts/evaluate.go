package mtasts

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Check is the name findings of this package carry.
const Check = "mta-sts"

// MX is one MX host of the domain and what the probe saw of it.
type MX struct {
	Host     string
	TLS      bool                // STARTTLS and a handshake completed
	TLSError string              // why not, when !TLS
	Chain    []*x509.Certificate // as sent, leaf first
	// Unreached: no SMTP session came about (refused, timed out); its
	// certificate is not judged, the probe's own verdict says why.
	Unreached bool
}

// Input is what Evaluate needs for one mail domain.
type Input struct {
	Domain   string
	Enforced bool     // the partner is on the enforced-TLS list (severity of failures in enforce mode)
	TXT      []string // the _mta-sts TXT records, each one's strings joined (JoinTXT)
	TXTErr   error    // the TXT lookup failed (not "no such name" or "no data")
	Fetched  *Fetched // the fetched policy, or nil
	FetchErr error    // why the policy could not be fetched
	MX       []MX
	Roots    *x509.CertPool // public roots for the MX certificates; nil means the system roots
	Now      time.Time
}

// Status sums up a domain's MTA-STS.
type Status string

// Statuses.
const (
	Absent    Status = "absent"  // no v=STSv1 TXT record
	Failed    Status = "failed"  // a record, but no usable policy (fetch error, invalid, WebPKI)
	InEnforce Status = "enforce" // a policy in mode enforce
	InTesting Status = "testing" // a policy in mode testing
	Withdrawn Status = "none"    // a policy in mode none
)

// Outcome is one failure MTA-STS names, for the domain or one MX host.
type Outcome struct {
	Verdict    audit.Verdict
	Severity   audit.Severity
	ResultType audit.ResultType // RFC 8460, more precise than the verdict's when the certificate says why
	Host       string           // the MX host, for StsMxMismatch and StsCertificateNotTrusted
	Detail     string
}

// Result is MTA-STS's outcome for one domain.
type Result struct {
	Status   Status
	Record   *Record
	Policy   *Policy
	URL      string
	Outcomes []Outcome
	Findings []audit.Finding // advice and tolerated deviations; Check is "mta-sts"
}

// Severity returns the severity of v under a policy in mode m: a warning in
// testing mode (senders only report), the verdict's own severity in enforce
// mode (senders do not deliver), and an error when no policy could be had
// (senders deliver without MTA-STS: the protection is off).
func Severity(v audit.Verdict, m Mode, enforced bool) audit.Severity {
	switch m {
	case Testing:
		return audit.Warning
	case Enforce:
		return v.Severity(enforced)
	}
	return audit.Error
}

// Audit parses in.TXT, fetches the policy with f when a record is
// published (unless in.Fetched or in.FetchErr is set already), and evaluates.
func (f *Fetcher) Audit(ctx context.Context, in Input) Result {
	if in.TXTErr == nil && in.Fetched == nil && in.FetchErr == nil {
		if _, err := ParseRecords(in.TXT); err == nil {
			in.Fetched, in.FetchErr = f.Fetch(ctx, in.Domain)
		}
	}
	return Evaluate(in)
}

// Evaluate applies RFC 8461 to in.
func Evaluate(in Input) Result {
	res := Result{URL: PolicyURL(in.Domain)}
	fail := func(v audit.Verdict, detail string) Result {
		res.Status = Failed
		res.Outcomes = append(res.Outcomes, Outcome{Verdict: v, Severity: Severity(v, "", in.Enforced),
			ResultType: v.Reporting().ResultType, Detail: detail})
		return res
	}
	if in.TXTErr != nil {
		return fail(audit.StsPolicyFetchError, fmt.Sprintf("the TXT lookup of %s failed: %v", RecordName(in.Domain), in.TXTErr))
	}
	rec, err := ParseRecords(in.TXT)
	if errors.Is(err, ErrNoRecord) {
		res.Status = Absent
		return res
	}
	if err != nil {
		return fail(audit.StsPolicyInvalid, err.Error())
	}
	res.Record = rec
	if in.FetchErr != nil {
		v := audit.StsPolicyFetchError
		var fe *FetchError
		if errors.As(in.FetchErr, &fe) {
			v = fe.Verdict
		}
		return fail(v, in.FetchErr.Error())
	}
	if in.Fetched == nil || in.Fetched.Policy == nil {
		return fail(audit.StsPolicyFetchError, "the policy was not fetched")
	}
	p := in.Fetched.Policy
	res.Policy = p
	for _, w := range p.Warnings {
		res.Findings = append(res.Findings, audit.Finding{Check: Check, Severity: audit.Warning,
			Message: "MTA-STS policy " + w, Remedy: "Ask the partner to correct its MTA-STS policy file."})
	}
	if p.MaxAge < minAdvisedMaxAge && p.Mode != None {
		res.Findings = append(res.Findings, audit.Finding{Check: Check, Severity: audit.Info,
			Message: fmt.Sprintf("MTA-STS max_age is %d s: senders forget the policy within a day, so a downgrade attacker only has to wait", p.MaxAge),
			Remedy:  "Ask the partner to raise max_age to weeks (RFC 8461 suggests 604800 or more) once the policy works."})
	}
	switch p.Mode {
	case None:
		res.Status = Withdrawn
		return res
	case Testing:
		res.Status = InTesting
	default:
		res.Status = InEnforce
	}
	for _, mx := range in.MX {
		host := strings.TrimSuffix(mx.Host, ".")
		if _, ok := p.Allows(host); !ok {
			v := audit.StsMxMismatch
			res.Outcomes = append(res.Outcomes, Outcome{Verdict: v, Severity: Severity(v, p.Mode, in.Enforced),
				ResultType: v.Reporting().ResultType, Host: host,
				Detail: fmt.Sprintf("MX %s is not listed in the MTA-STS policy (mx: %s)", host, strings.Join(p.MX, ", "))})
			continue
		}
		if mx.Unreached {
			continue
		}
		if rt, why := checkCert(mx, in.Roots, in.Now); why != "" {
			v := audit.StsCertificateNotTrusted
			res.Outcomes = append(res.Outcomes, Outcome{Verdict: v, Severity: Severity(v, p.Mode, in.Enforced),
				ResultType: rt, Host: host, Detail: fmt.Sprintf("MX %s: %s; MTA-STS senders in mode %s %s", host, why, p.Mode, consequence(p.Mode))})
		}
	}
	return res
}

// minAdvisedMaxAge is the max_age below which a policy protects little (one day).
const minAdvisedMaxAge = 86400

func consequence(m Mode) string {
	if m == Testing {
		return "only report it"
	}
	return "do not deliver"
}

// checkCert validates mx's certificate as an MTA-STS sender does (RFC 8461
// section 4.2): public roots only, the MX host name, the clock. It returns
// the RFC 8460 result type and why, or "" when the certificate is valid.
func checkCert(mx MX, roots *x509.CertPool, now time.Time) (audit.ResultType, string) {
	if !mx.TLS || len(mx.Chain) == 0 {
		why := mx.TLSError
		if why == "" {
			why = "no TLS"
		}
		return audit.StartTLSNotSupported, why
	}
	inter := x509.NewCertPool()
	for _, c := range mx.Chain[1:] {
		inter.AddCert(c)
	}
	_, err := mx.Chain[0].Verify(x509.VerifyOptions{DNSName: strings.TrimSuffix(mx.Host, "."), Roots: roots,
		Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err == nil {
		return "", ""
	}
	var (
		he x509.HostnameError
		ci x509.CertificateInvalidError
		ua x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, &he):
		return audit.CertificateHostMismatch, "the certificate does not name the MX host: " + err.Error()
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return audit.CertificateExpired, "the certificate is outside its validity: " + err.Error()
	case errors.As(err, &ua):
		return audit.CertificateNotTrusted, "the certificate does not chain to a public root (a private CA never counts for MTA-STS): " + err.Error()
	}
	return audit.ValidationFailure, err.Error()
}

// Apply records r in a partner's result, every outcome as a verdict with
// its detail, except in testing mode, where senders only report and an
// outcome is a warning finding instead; and the MTA-STS facts in facts, if not nil.
func (r Result) Apply(res *audit.Result, facts *audit.Policies) {
	if facts == nil {
		facts = &audit.Policies{}
	}
	facts.MTASTS = string(r.Status)
	if r.Record != nil {
		facts.MTASTSID = r.Record.ID
	}
	if r.Policy != nil {
		facts.MTASTSMX = r.Policy.MX
	}
	for _, o := range r.Outcomes {
		if r.Status == InTesting {
			res.Findings = append(res.Findings, audit.Finding{Check: Check, Severity: o.Severity,
				Message: "MTA-STS (testing mode) " + string(o.ResultType) + ": " + o.Detail, Remedy: o.Verdict.Remedy()})
			continue
		}
		if res.Details == nil {
			res.Details = map[audit.Verdict]string{}
		}
		if old, ok := res.Details[o.Verdict]; ok {
			res.Details[o.Verdict] = old + "; " + o.Detail
			continue
		}
		res.Verdicts = append(res.Verdicts, o.Verdict)
		res.Details[o.Verdict] = o.Detail
	}
	res.Findings = append(res.Findings, r.Findings...)
}
