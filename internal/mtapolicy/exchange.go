package mtapolicy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// TLSAuth is a send connector's TlsAuthLevel or an outbound connector's TlsSettings.
type TLSAuth string

// The Exchange TLS authentication levels.
const (
	TLSAuthNone           TLSAuth = ""                      // not set: TLS opportunistic (or, with RequireTLS, encryption only)
	EncryptionOnly        TLSAuth = "EncryptionOnly"        // TLS, no certificate checks
	CertificateValidation TLSAuth = "CertificateValidation" // chain and revocation
	DomainValidation      TLSAuth = "DomainValidation"      // chain, revocation and the name (TlsDomain, else the recipient domain)
)

// ParseTLSAuth reads a TlsAuthLevel / TlsSettings value (case-insensitive; "" and "$null" are TLSAuthNone).
func ParseTLSAuth(s string) (TLSAuth, error) {
	for _, a := range []TLSAuth{EncryptionOnly, CertificateValidation, DomainValidation} {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	if s == "" || strings.EqualFold(s, "$null") {
		return TLSAuthNone, nil
	}
	return "", fmt.Errorf("invalid TLS authentication level %q (want EncryptionOnly, CertificateValidation or DomainValidation)", s)
}

// Queue lifetimes: how long Exchange keeps retrying before the NDR.
const (
	ExchangeServerLifetime = 2 * 24 * time.Hour // Set-TransportService -MessageExpirationTimeout default
	ExchangeOnlineLifetime = 24 * time.Hour     // Exchange Online retries for 24 hours
)

// ExchangeRule is one Exchange Server send connector or Exchange Online
// outbound connector, as it applies to one destination domain.
type ExchangeRule struct {
	Online             bool     // an Exchange Online outbound connector (or EXO's default route when Connector is "")
	Connector          string   // the connector's Name
	AddressSpaces      []string // domains it routes: "contoso.com", "*.contoso.com", "*" (send connector AddressSpaces, outbound RecipientDomains)
	Costs              []int    // the cost of each address space (send connectors), 1 when not given
	DNSRouting         bool     // DNSRoutingEnabled / UseMXRecord
	SmartHosts         []string //
	RequireTLS         bool     // send connector RequireTLS (outbound connectors: TlsSettings set)
	TLSAuth            TLSAuth  // TlsAuthLevel / TlsSettings
	TLSDomain          string   // TlsDomain ("*.contoso.com" allowed)
	DomainSecure       bool     // send connector DomainSecureEnabled
	IgnoreSTARTTLS     bool     //
	DaneMode           string   // Exchange Online SmtpDaneMode: Opportunistic (default), Mandatory, None
	MtaStsMode         string   // Exchange Online MtaStsMode: Opportunistic (default), None
	TLSCertificateName string   // OUR certificate for this connector (<I>issuer<S>subject), never the partner's
	File               string   // where the rule was read
	Line               int      //
	Lifetime           time.Duration
}

// Where names the rule's place for a Decision.
func (r ExchangeRule) Where() string {
	switch {
	case r.File != "" && r.Line > 0:
		return fmt.Sprintf("%s:%d", r.File, r.Line)
	case r.File != "":
		return r.File
	}
	return ""
}

func (r ExchangeRule) mta() string {
	if r.Online {
		return "Exchange Online"
	}
	return "Exchange Server"
}

func (r ExchangeRule) describe() string {
	kind := "send connector"
	if r.Online {
		kind = "outbound connector"
	}
	if r.Connector == "" {
		return "default route (no connector)"
	}
	s := fmt.Sprintf("%s %q", kind, r.Connector)
	if r.IgnoreSTARTTLS {
		s += " IgnoreSTARTTLS"
	}
	if r.RequireTLS && !r.Online {
		s += " RequireTLS"
	}
	if r.TLSAuth != TLSAuthNone {
		s += " " + string(r.TLSAuth)
	}
	if r.TLSDomain != "" {
		s += " TlsDomain " + r.TLSDomain
	}
	if r.DomainSecure {
		s += " DomainSecureEnabled"
	}
	if r.Online && r.DaneMode != "" {
		s += " SmtpDaneMode " + r.DaneMode
	}
	return s
}

// As returns the rule as if its TLS level were a (a "what if"): a level
// other than TLSAuthNone implies RequireTLS and STARTTLS.
func (r ExchangeRule) As(a TLSAuth) ExchangeRule {
	q := r
	q.TLSAuth = a
	q.RequireTLS = a != TLSAuthNone
	if q.RequireTLS {
		q.IgnoreSTARTTLS = false
	}
	return q
}

// ExchangeConfig is an organisation's outbound TLS setup: its connectors and
// (Exchange Server) the TLSSendDomainSecureList.
type ExchangeConfig struct {
	Online           bool
	Connectors       []ExchangeRule
	DomainSecureList []string // Get-TransportConfig TLSSendDomainSecureList
	DomainSecureFile string   // where the list was read
}

// DomainSecured reports whether domain is on the TLSSendDomainSecureList (exact names: the list takes no wildcards).
func (c ExchangeConfig) DomainSecured(domain string) bool {
	return slices.ContainsFunc(c.DomainSecureList, func(d string) bool { return norm(d) == norm(domain) })
}

// Route picks the connector Exchange routes domain through: the most
// specific address space, then the lowest cost, then the name. Without
// one, Exchange Online uses its default route; Exchange Server has none.
func (c ExchangeConfig) Route(domain string) (ExchangeRule, bool) {
	d := norm(domain)
	best, bestSpec, bestCost := -1, -1, 0
	for i, r := range c.Connectors {
		for j, as := range r.AddressSpaces {
			spec := addressSpaceMatch(norm(as), d)
			if spec < 0 {
				continue
			}
			cost := 1
			if j < len(r.Costs) {
				cost = r.Costs[j]
			}
			if spec > bestSpec || spec == bestSpec && (cost < bestCost || cost == bestCost && r.Connector < c.Connectors[best].Connector) {
				best, bestSpec, bestCost = i, spec, cost
			}
		}
	}
	if best >= 0 {
		return c.Connectors[best], true
	}
	if c.Online {
		return ExchangeRule{Online: true, DNSRouting: true}, true
	}
	return ExchangeRule{}, false
}

// addressSpaceMatch returns how specific the match of an address space is
// (longer is more specific), or -1.
func addressSpaceMatch(as, d string) int {
	switch {
	case as == "*":
		return 0
	case as == d:
		return 2*len(as) + 1
	case strings.HasPrefix(as, "*.") && strings.HasSuffix(d, as[1:]):
		return 2 * len(as)
	}
	return -1
}

// EvaluateExchange decides what Exchange does for a target under rule r;
// domainSecure says whether in.NextHop is on the TLSSendDomainSecureList.
func EvaluateExchange(r ExchangeRule, domainSecure bool, in Input) Decision {
	e := exEval{r: r, in: in, d: Decision{MTA: r.mta(), Policy: r.describe(), Source: r.Where()}}
	if r.Online {
		return e.online()
	}
	return e.server(domainSecure)
}

type exEval struct {
	r  ExchangeRule
	in Input
	d  Decision
}

func (e *exEval) deliver(o Outcome, format string, args ...any) Decision {
	e.d.Outcome = o
	e.d.Rule = e.d.MTA + ": " + fmt.Sprintf(format, args...)
	return e.d
}

func (e *exEval) deferred(format string, args ...any) Decision {
	e.d.Rule = e.d.MTA + ": " + fmt.Sprintf(format, args...)
	lifetime, setting := e.r.Lifetime, "MessageExpirationTimeout"
	if lifetime == 0 {
		lifetime = ExchangeServerLifetime
		if e.r.Online {
			lifetime, setting = ExchangeOnlineLifetime, "Exchange Online's 24-hour retry"
		}
	}
	return deferOrBounce(e.d, e.in, lifetime, setting)
}

func (e *exEval) server(domainSecure bool) Decision {
	r, in := e.r, e.in
	var note string
	if domainSecure {
		switch {
		case !r.DomainSecure:
			note = fmt.Sprintf("; %s is on TLSSendDomainSecureList but the send connector has DomainSecureEnabled $false, so Domain Security does not apply", in.NextHop)
		case !r.DNSRouting:
			note = fmt.Sprintf("; %s is on TLSSendDomainSecureList but the send connector routes to smart hosts, so Domain Security does not apply", in.NextHop)
		case r.IgnoreSTARTTLS:
			note = fmt.Sprintf("; %s is on TLSSendDomainSecureList but the send connector has IgnoreSTARTTLS $true, so Domain Security does not apply", in.NextHop)
		default:
			return e.domainSecurity()
		}
	}
	if r.IgnoreSTARTTLS {
		e.d.Clear = true
		return e.deliver(DeliversUnauthenticated, "IgnoreSTARTTLS: TLS is never started, mail goes in clear text%s", note)
	}
	if !r.RequireTLS {
		if !in.STARTTLS {
			e.d.Clear = true
			return e.deliver(DeliversUnauthenticated, "opportunistic TLS: the server does not offer STARTTLS, mail goes in clear text%s", note)
		}
		if in.HandshakeError != "" {
			return e.deferred("TLS negotiation failed (%s); the message is queued and retried: opportunistic TLS sends in clear text only when STARTTLS is not offered (a send connector with IgnoreSTARTTLS is the workaround)%s", in.HandshakeError, note)
		}
		return e.deliver(DeliversUnauthenticated, "opportunistic TLS: the certificate is not checked%s", note)
	}
	return e.required(note, "")
}

// required applies RequireTLS with TlsAuthLevel (or an outbound
// connector's TlsSettings); codes are Exchange Online's NDR codes.
func (e *exEval) required(note string, authNote string) Decision {
	r, in, online := e.r, e.in, e.r.Online
	code := func(c string) string {
		if online {
			return c + " "
		}
		return ""
	}
	if !in.STARTTLS {
		return e.deferred("%sTLS is required but the server does not offer STARTTLS (%s)%s", code("451 4.7.321 starttls-not-supported:"), r.describe(), note)
	}
	if in.HandshakeError != "" || len(in.Chain) == 0 {
		why := in.HandshakeError
		if why == "" {
			why = "no certificate presented"
		}
		return e.deferred("TLS is required but TLS negotiation failed (%s)%s", why, note)
	}
	auth := r.TLSAuth
	if auth == TLSAuthNone || auth == EncryptionOnly {
		label := "EncryptionOnly"
		if auth == TLSAuthNone {
			label = "RequireTLS without TlsAuthLevel (encryption only)"
		}
		return e.deliver(DeliversUnauthenticated, "%s: TLS encrypts the channel; no certificate authentication is performed%s%s", label, authNote, note)
	}
	if len(in.Path) == 0 {
		reason := in.ChainError
		if reason == "" {
			reason = "the chain does not verify"
		}
		return e.deferred("%s%s: certificate validation failed: %s%s", code("450 4.7.320"), auth, reason, note)
	}
	if ok, why := e.revocation(string(auth)); !ok {
		return e.deferred("%s%s", why, note)
	}
	if auth == DomainValidation {
		want, from := r.TLSDomain, "TlsDomain"
		if want == "" {
			want, from = in.NextHop, "the recipient domain (TlsDomain is empty)"
		}
		name, ok := exchangeMatch(in.Chain[0], want)
		if !ok {
			return e.deferred("%sDomainValidation: the FQDN on the certificate (%s) does not match %s %s%s", code("451 4.7.325 certificate-host-mismatch:"), listNames(in.Chain[0]), from, want, note)
		}
		return e.deliver(Delivers, "DomainValidation: the chain validates%s and the certificate name %s matches %s %s%s%s", e.revNote(), name, from, want, authNote, note)
	}
	return e.deliver(Delivers, "CertificateValidation: the chain validates%s; the name is not checked%s%s", e.revNote(), authNote, note)
}

func (e *exEval) revocation(what string) (bool, string) {
	switch e.in.Revocation {
	case RevocationRevoked:
		return false, fmt.Sprintf("%s: a certificate of the chain is revoked (Revoked)", what)
	case RevocationUnknown:
		return false, fmt.Sprintf("%s: the revocation status is unknown (RevocationStatusUnknown, OfflineRevocation): Exchange must reach the CRL through the WinHTTP proxy", what)
	}
	return true, ""
}

func (e *exEval) revNote() string {
	if e.in.Revocation == RevocationGood {
		return " and is not revoked"
	}
	return " (revocation was not checked by the audit; Exchange checks it)"
}

func (e *exEval) domainSecurity() Decision {
	in := e.in
	e.d.Policy += " + TLSSendDomainSecureList " + in.NextHop
	if !in.STARTTLS {
		return e.deferred("Domain Security: %s requires mutual TLS but the server does not offer STARTTLS", in.NextHop)
	}
	if in.HandshakeError != "" || len(in.Chain) == 0 {
		return e.deferred("Domain Security: the mutual TLS negotiation failed (%s)", in.HandshakeError)
	}
	if len(in.Path) == 0 {
		reason := in.ChainError
		if reason == "" {
			reason = "the chain does not verify"
		}
		return e.deferred("Domain Security: certificate validation failed: %s", reason)
	}
	if ok, why := e.revocation("Domain Security"); !ok {
		return e.deferred("%s", why)
	}
	if !audit.CoversDomain(in.Chain[0], in.NextHop) {
		return e.deferred("Domain Security: the certificate does not contain the domain %s, event 11015 (it names %s)", in.NextHop, listNames(in.Chain[0]))
	}
	return e.deliver(Delivers, "Domain Security: mutual TLS, the chain validates%s and the certificate contains the domain %s", e.revNote(), in.NextHop)
}

func (e *exEval) online() Decision {
	r, in := e.r, e.in
	mode := r.DaneMode
	if mode == "" {
		mode = "Opportunistic"
	}
	daneAuth := false
	switch {
	case strings.EqualFold(mode, "None"):
	case in.TLSA == TLSABogus:
		return e.deferred("451 5.7.324 dnssec-invalid: DNSSEC validation of the MX, address or TLSA answer failed (SmtpDaneMode %s)", mode)
	case strings.EqualFold(mode, "Mandatory") && !(in.MXSecure && in.TLSA == TLSAValid):
		why := "no usable TLSA record"
		switch {
		case !in.MXSecure:
			why = "the MX answer is not DNSSEC-secure"
		case in.TLSA == TLSAMismatch:
			why = "no TLSA record matches the chain (5.7.323 tlsa-invalid)"
		}
		return e.deferred("SmtpDaneMode Mandatory: %s; the message is retried for 24 hours, then dropped", why)
	case in.MXSecure && (in.TLSA == TLSAValid || in.TLSA == TLSAMismatch || in.TLSA == TLSAUnusable):
		if !in.STARTTLS {
			return e.deferred("451 4.7.321 starttls-not-supported: %s publishes TLSA records, TLS is required", in.MXHost)
		}
		if in.HandshakeError != "" {
			return e.deferred("TLS negotiation failed (%s) with a DANE-protected host", in.HandshakeError)
		}
		if in.TLSA == TLSAMismatch {
			return e.deferred("451 5.7.323 tlsa-invalid: no TLSA record of %s matches the certificate chain", in.MXHost)
		}
		daneAuth = in.TLSA == TLSAValid
	}
	if r.TLSAuth != TLSAuthNone {
		note := ""
		if daneAuth {
			note = "; DANE: a TLSA record matches"
		}
		return e.required("", note)
	}
	if daneAuth {
		return e.deliver(Delivers, "DANE (SmtpDaneMode %s): a TLSA record of %s matches the chain", mode, in.MXHost)
	}
	if in.MXSecure && in.TLSA == TLSAUnusable {
		return e.deliver(DeliversUnauthenticated, "DANE: the TLSA records of %s are unusable (usage 0/1), TLS is required but not authenticated", in.MXHost)
	}
	if !in.STARTTLS {
		e.d.Clear = true
		return e.deliver(DeliversUnauthenticated, "opportunistic TLS: the server does not offer STARTTLS, mail goes in clear text (MTA-STS not evaluated here)")
	}
	if in.HandshakeError != "" {
		return e.deferred("TLS negotiation failed (%s); the message is queued and retried: opportunistic TLS sends in clear text only when STARTTLS is not offered", in.HandshakeError)
	}
	return e.deliver(DeliversUnauthenticated, "opportunistic TLS: the certificate is not checked (MTA-STS not evaluated here)")
}
