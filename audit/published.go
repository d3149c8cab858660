package audit

import (
	"maps"
	"strings"
)

// Verdicts of the partner's published policies (DNSSEC, DANE, MTA-STS), issue 13;
// Order places them as PolicyVerdicts says.
const (
	DnssecBogus       Verdict = "DnssecBogus"       // DNSSEC validation failed for the TLSA records, or for the MX or address lookup (SERVFAIL for a signed zone)
	DaneRequiredNoTLS Verdict = "DaneRequiredNoTLS" // TLSA records are published but TLS could not be set up
	TlsaMismatch      Verdict = "TlsaMismatch"      // usable TLSA records are published and none matches the chain

	StsPolicyFetchError      Verdict = "StsPolicyFetchError"      // the MTA-STS policy could not be fetched
	StsWebPkiInvalid         Verdict = "StsWebPkiInvalid"         // the policy host's HTTPS certificate is not WebPKI-valid
	StsPolicyInvalid         Verdict = "StsPolicyInvalid"         // the MTA-STS policy (or its TXT record) does not parse
	StsMxMismatch            Verdict = "StsMxMismatch"            // an MX host is not listed in the MTA-STS policy
	StsCertificateNotTrusted Verdict = "StsCertificateNotTrusted" // mode enforce and the MX certificate does not validate against public roots alone
)

// PolicyVerdicts lists the policy verdicts, most severe first, as Order
// places them: the DANE ones after HandshakeFailed (mail is deferred
// whatever the certificate), the MTA-STS ones after DomainMismatch.
var PolicyVerdicts = []Verdict{
	DnssecBogus, DaneRequiredNoTLS, TlsaMismatch,
	StsPolicyFetchError, StsWebPkiInvalid, StsPolicyInvalid, StsMxMismatch, StsCertificateNotTrusted,
}

// ResultType is an RFC 8460 (SMTP TLS Reporting) result type.
type ResultType string

// RFC 8460 section 4.3 result types.
const (
	StartTLSNotSupported    ResultType = "starttls-not-supported"
	CertificateHostMismatch ResultType = "certificate-host-mismatch"
	CertificateExpired      ResultType = "certificate-expired"
	CertificateNotTrusted   ResultType = "certificate-not-trusted"
	ValidationFailure       ResultType = "validation-failure"
	TLSAInvalid             ResultType = "tlsa-invalid"
	DNSSECInvalid           ResultType = "dnssec-invalid"
	DANERequired            ResultType = "dane-required"
	STSPolicyFetchError     ResultType = "sts-policy-fetch-error"
	STSPolicyInvalid        ResultType = "sts-policy-invalid"
	STSWebPKIInvalid        ResultType = "sts-webpki-invalid"
)

// Reporting is how a sending MTA reports a verdict: its RFC 8460 result
// type and the Exchange Online NDR (enhanced status code) that names it.
type Reporting struct {
	ResultType ResultType // empty when RFC 8460 has none
	NDR        string     // e.g. "5.7.323"; "4/5.4.8" is 4.4.8 while retrying, 5.4.8 in the final NDR
}

// reporting is the one table of RFC 8460 result types and Exchange Online
// NDR codes (learn.microsoft.com, non-delivery reports in Exchange Online).
var reporting = map[Verdict]Reporting{
	ConnectionRefused:        {NDR: "4.4.317"},
	Timeout:                  {NDR: "4.4.317"},
	NoStartTLS:               {StartTLSNotSupported, "4/5.7.321"},
	StartTLSRefused:          {StartTLSNotSupported, "4/5.7.321"},
	HandshakeFailed:          {ValidationFailure, "4.7.320"},
	Revoked:                  {ValidationFailure, "4.7.320"},
	Expired:                  {CertificateExpired, "5.7.322"},
	NotYetValid:              {ValidationFailure, "4.7.320"},
	SelfSigned:               {CertificateNotTrusted, "4.7.320"},
	UntrustedRoot:            {CertificateNotTrusted, "4.7.320"},
	PartialChain:             {CertificateNotTrusted, "4.7.320"},
	InvalidChain:             {ValidationFailure, "4.7.320"},
	WrongUsage:               {ValidationFailure, "4.7.320"},
	NameMismatch:             {CertificateHostMismatch, "5.7.325"},
	DnssecBogus:              {DNSSECInvalid, "5.7.324"},
	DaneRequiredNoTLS:        {DANERequired, "4/5.7.321"},
	TlsaMismatch:             {TLSAInvalid, "5.7.323"},
	StsPolicyFetchError:      {ResultType: STSPolicyFetchError},
	StsWebPkiInvalid:         {ResultType: STSWebPKIInvalid},
	StsPolicyInvalid:         {ResultType: STSPolicyInvalid},
	StsMxMismatch:            {ValidationFailure, "4/5.4.8"},
	StsCertificateNotTrusted: {CertificateNotTrusted, "4/5.4.8"},
}

// Reporting returns v's RFC 8460 result type and Exchange Online NDR code (zero when none).
func (v Verdict) Reporting() Reporting { return reporting[v] }

var policyRemedies = map[Verdict]string{
	DnssecBogus:              "Ask the partner to fix the DNSSEC of its MX host's zone (expired signatures, a DS that matches no DNSKEY); DANE senders such as Exchange Online and Postfix defer all mail to it meanwhile.",
	DaneRequiredNoTLS:        "Ask the partner to fix STARTTLS on its mail host, or to withdraw its TLSA records first; DANE senders defer mail to it meanwhile.",
	TlsaMismatch:             "Ask the partner to publish a TLSA record for the certificate its server sends (3 1 1 of the current key), keeping the old one until the new one has propagated; DANE senders defer mail to it meanwhile.",
	StsPolicyFetchError:      "Ask the partner to serve https://mta-sts.<domain>/.well-known/mta-sts.txt (status 200, text/plain, no redirect), or to remove its _mta-sts TXT record.",
	StsWebPkiInvalid:         "Ask the partner to give mta-sts.<domain> a certificate from a public CA that names that host; senders ignore the policy meanwhile.",
	StsPolicyInvalid:         "Ask the partner to correct its MTA-STS policy file or TXT record (version: STSv1, mode, mx, max_age lines; v=STSv1; id=...).",
	StsMxMismatch:            "Ask the partner to list every MX host in the mx: lines of its MTA-STS policy and to change the policy id; in enforce mode MTA-STS senders do not deliver to an unlisted MX.",
	StsCertificateNotTrusted: "Ask the partner for a certificate from a public CA on its MX hosts: in enforce mode MTA-STS senders (Exchange Online, Gmail) accept no private CA, whatever roots you import.",
}

var policyPartnerRemedies = map[Verdict]string{
	DnssecBogus:              "Please fix the DNSSEC signatures of your MX host's zone: DANE senders cannot validate your TLSA records and defer all mail to you.",
	DaneRequiredNoTLS:        "Your TLSA records require TLS, but your mail server did not complete STARTTLS: please fix STARTTLS, or withdraw the TLSA records first.",
	TlsaMismatch:             "None of your TLSA records matches the certificate your mail server sends: please publish a record for the current key (3 1 1) before or together with every certificate change.",
	StsPolicyFetchError:      "Your MTA-STS policy could not be fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt: please serve it (status 200, text/plain, no redirect) or remove the _mta-sts TXT record.",
	StsWebPkiInvalid:         "The certificate of your MTA-STS policy host is not valid for public CAs: please use a publicly trusted certificate naming mta-sts.<domain>.",
	StsPolicyInvalid:         "Your MTA-STS policy or its TXT record does not follow RFC 8461: please correct it.",
	StsMxMismatch:            "One of your MX hosts is not listed in your MTA-STS policy: please add it (mx: line) and change the policy id.",
	StsCertificateNotTrusted: "Your MTA-STS policy is in enforce mode but your MX certificate is not from a public CA: MTA-STS senders will not deliver to you.",
}

func init() {
	maps.Copy(remedies, policyRemedies)
	maps.Copy(partnerRemedies, policyPartnerRemedies)
}

// Policies is what a partner's mail domain publishes for TLS and what it
// makes of the partner's MX host: DANE, MTA-STS and TLS-RPT facts for
// results.json. A failure among them is also a verdict of the partner.
//
// Each target carries its own (DANE is per MX host and address), and the
// partner those of its worst target.
type Policies struct {
	DANE       string   `json:"dane,omitempty"`        // "valid", "mismatch", "bogus", "no-tls", "unusable", "none", "insecure"
	DANEDetail string   `json:"dane_detail,omitempty"` // why, in words
	MTASTS     string   `json:"mta_sts,omitempty"`     // "absent", "failed", "enforce", "testing", "none"
	MTASTSID   string   `json:"mta_sts_id,omitempty"`  // the id of the _mta-sts TXT record
	MTASTSMX   []string `json:"mta_sts_mx,omitempty"`  // the policy's mx patterns
	TLSRPT     string   `json:"tls_rpt,omitempty"`     // "absent", "invalid", "present"
	TLSRPTRUA  []string `json:"tls_rpt_rua,omitempty"` // where TLS reports go
	// DNSSEC says what the answers for this MX were: "secure" (AD bit from a
	// trusted resolver), "insecure" (no AD bit), "untrusted" (the resolver is
	// not trusted for DNSSEC: --dnssec-resolver-trusted), "bogus".
	DNSSEC string `json:"dnssec,omitempty"`
	// TLSA lists the TLSA records of the MX host, "3 1 1 <hex>", when secure.
	TLSA []string `json:"tlsa,omitempty"`
}

// DNSSEC statuses (Policies.DNSSEC).
const (
	DNSSECSecure    = "secure"
	DNSSECInsecure  = "insecure"
	DNSSECUntrusted = "untrusted"
	DNSSECBogus     = "bogus"
)

// ReportingDetail returns detail with the Exchange Online NDR code of v
// appended (once), so that a reader finds the code the NDRs name.
func ReportingDetail(v Verdict, detail string) string {
	ndr := v.Reporting().NDR
	if ndr == "" {
		return detail
	}
	tag := "Exchange Online NDR " + ndr
	if strings.Contains(detail, tag) {
		return detail
	}
	if detail == "" {
		return tag
	}
	return detail + " (" + tag + ")"
}

// SetReporting gives each of r's verdicts its RFC 8460 result type
// (keeping a more precise one already set) and names the Exchange Online
// NDR code in its detail.
func (r *Result) SetReporting() {
	r.ResultTypes, r.Details = reportingOf(r.Verdicts, r.ResultTypes, r.Details)
}

func reportingOf(vs []Verdict, types map[Verdict]ResultType, details map[Verdict]string) (map[Verdict]ResultType, map[Verdict]string) {
	for _, v := range vs {
		rt := v.Reporting()
		if rt.ResultType != "" {
			if types == nil {
				types = map[Verdict]ResultType{}
			}
			if types[v] == "" {
				types[v] = rt.ResultType
			}
		}
		if rt.NDR != "" {
			if details == nil {
				details = map[Verdict]string{}
			}
			details[v] = ReportingDetail(v, details[v])
		}
	}
	return types, details
}
