// Package mtapolicy holds the TLS policy of our own MTA (Postfix
// smtp_tls_policy_maps and main.cf, Exchange Server send connectors and
// Domain Security, Exchange Online outbound connectors) and decides, as that
// MTA would, whether it delivers to a probed target: delivers,
// delivers-unauthenticated, deferred or bounces, with the rule that decided
// it in the MTA's own words.
//
// Evaluation is a set of pure functions over a plain Input struct (the
// chain as sent, the verified path or why verification failed, the TLS
// version, STARTTLS, the MX host and whether its answer was DNSSEC-secure,
// the TLSA outcome, the revocation status, the next-hop domain). Nothing
// here touches the network or the clock: Input.Now is the clock.
package mtapolicy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// Outcome is what the MTA does with a message for a target.
type Outcome string

// The outcomes, best first.
const (
	Delivers                Outcome = "delivers"                 // TLS with the authentication the policy asks for
	DeliversUnauthenticated Outcome = "delivers-unauthenticated" // delivers, but authenticates nothing (TLS without checks, or in clear: see Decision.Clear)
	Deferred                Outcome = "deferred"                 // queued and retried: a TLS policy failure is temporary for Postfix and Exchange
	Bounces                 Outcome = "bounces"                  // returned to the sender: the target has failed longer than the MTA keeps mail queued
	Undetermined            Outcome = "undetermined"             // the input lacks a fact the rule needs (e.g. a tafile that was not loaded)
)

// TLSA is the outcome of the DANE TLSA lookup and match for a target.
type TLSA string

// TLSA outcomes.
const (
	TLSANone     TLSA = "none"     // no TLSA records (or not looked up: the MX answer was insecure)
	TLSAUnusable TLSA = "unusable" // records exist but none is usable for SMTP (usages 0/1, unknown parameters)
	TLSAValid    TLSA = "valid"    // usable records, and the presented chain matches one
	TLSAMismatch TLSA = "mismatch" // usable records, none matches the presented chain
	TLSABogus    TLSA = "bogus"    // DNSSEC validation failed (SERVFAIL) for the MX, address or TLSA answer
)

// ParseTLSA reads a TLSA outcome name; "" is TLSANone.
func ParseTLSA(s string) (TLSA, error) {
	switch t := TLSA(s); t {
	case "":
		return TLSANone, nil
	case TLSANone, TLSAUnusable, TLSAValid, TLSAMismatch, TLSABogus:
		return t, nil
	}
	return "", fmt.Errorf("mtapolicy: unknown TLSA outcome %q (want none, unusable, valid, mismatch or bogus)", s)
}

// Revocation is what CRL/OCSP said about the verified path.
type Revocation string

// Revocation states.
const (
	RevocationNotChecked Revocation = ""        // the audit did not check (or there was no verified path)
	RevocationGood       Revocation = "good"    // every certificate of the path is known not revoked
	RevocationRevoked    Revocation = "revoked" // a certificate of the path is revoked
	RevocationUnknown    Revocation = "unknown" // no CRL or OCSP responder answered (Windows: RevocationStatusUnknown, OfflineRevocation)
)

// Input is what the pipeline knows about one target (one MX address).
type Input struct {
	NextHop  string // the next-hop domain: the recipient domain for MX delivery, the host of a [host] or smart-host route
	MXHost   string // the host name connected to: from the MX answer, or the [host] / smart host itself
	MXSecure bool   // the MX and address answers were DNSSEC-secure (authenticated data)

	STARTTLS       bool     // the server offered STARTTLS (true for implicit TLS)
	HandshakeError string   // why the TLS handshake failed; "" when it succeeded (or STARTTLS was not offered)
	TLSVersion     uint16   // negotiated version (tls.VersionTLS12, ...); 0 without a handshake
	TLSVersions    []uint16 // every version the server accepts, when probed; nil when unknown

	Chain      []*x509.Certificate // leaf first, as the server sent it
	Path       []*x509.Certificate // the verified path, leaf to anchor, against the trust store; nil when verification failed
	ChainError string              // why Path is nil, in words (e.g. "UntrustedRoot: ...")
	Revocation Revocation          // revocation status of Path
	TLSA       TLSA                // DANE outcome for this MX host

	Now        time.Time     // the run's clock (validity of tafile chains)
	FailingFor time.Duration // how long this target has failed continuously (from history); 0 when unknown or not failing
}

// Decision is what the MTA does, and why, in its own words.
type Decision struct {
	Outcome Outcome       `json:"outcome"`
	MTA     string        `json:"mta"`              // "Postfix", "Exchange Server" or "Exchange Online"
	Policy  string        `json:"policy"`           // the setting that applied, e.g. "secure match=nexthop:dot-nexthop" or "send connector "X" RequireTLS DomainValidation"
	Source  string        `json:"source,omitempty"` // where that setting is: file:line
	Rule    string        `json:"rule"`             // the rule that decided, in the MTA's words
	Clear   bool          `json:"clear,omitempty"`  // the message goes without TLS
	Retry   time.Duration `json:"-"`                // when deferred: how long the MTA keeps retrying before it bounces
}

// String is the decision in one line: outcome, rule, MTA, policy and source.
func (d Decision) String() string {
	s := fmt.Sprintf("%s: %s (%s", d.Outcome, d.Rule, d.MTA)
	if d.Policy != "" {
		s += " " + d.Policy
	}
	if d.Source != "" {
		s += ", " + d.Source
	}
	return s + ")"
}

// deferOrBounce turns a deferral into a bounce once the target has failed
// for longer than the MTA keeps mail queued.
func deferOrBounce(d Decision, in Input, lifetime time.Duration, setting string) Decision {
	d.Outcome = Deferred
	d.Retry = lifetime
	if lifetime > 0 && in.FailingFor >= lifetime {
		d.Outcome = Bounces
		d.Rule += fmt.Sprintf("; the target has failed for %s, longer than %s (%s): mail queued since then has bounced", days(in.FailingFor), setting, days(lifetime))
	}
	return d
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// versionName is the name OpenSSL and Postfix use for a TLS version.
func versionName(v uint16) string {
	switch v {
	case tls.VersionSSL30:
		return "SSLv3"
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}
