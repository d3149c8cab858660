// Package delivery decides, for every probed target of a run, what our own
// MTA does with mail for the partner under the TLS policy its inventory
// gave (internal/mtapolicy: Postfix, Exchange Server, Exchange Online), and
// attaches the decision to the results as audit.Delivery: per target, and
// per partner its worst target's.
package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/inventory/formats"
	"github.com/mxaudit/mxaudit/internal/mtapolicy"
)

// Options are our MTA's policy and the facts the audit adds to a probe.
type Options struct {
	MTA *mtapolicy.MTA

	// WhatIfLevel evaluates every partner again as if its Postfix policy
	// had this level (--what-if-level); nil for none.
	WhatIfLevel *mtapolicy.Level
	// WhatIfDomainSecure evaluates every partner again as if its domain
	// were on TLSSendDomainSecureList and its send connector had
	// DomainSecureEnabled (--what-if-domain-secure).
	WhatIfDomainSecure bool

	// Verify returns the verified path of a chain against the run's trust
	// store (leaf to anchor), or why there is none.
	Verify func(chain []*x509.Certificate) (path []*x509.Certificate, why string)
	// TLSA returns the DANE outcome for a target when the run evaluated
	// DANE; ok false means not evaluated, and a decision that depends on
	// it is Undetermined (never guessed). Nil: DANE was not evaluated.
	TLSA func(p *audit.Result, t *audit.TargetResult) (tlsa mtapolicy.TLSA, ok bool)
	// FailingFor is how long a target has failed continuously (history);
	// nil or 0 when unknown.
	FailingFor func(p *audit.Result, t *audit.TargetResult) time.Duration
	Now        time.Time
}

// Decide sets Delivery on every probed target and every partner of res.
// rows are the inventory rows of the run (by line: the domain a target's
// mail is addressed to); a target of a row not among them uses its
// partner's domain. It is DecidePartner for each partner with its rows.
func Decide(res *audit.Results, rows []audit.Partner, o Options) {
	if o.MTA == nil {
		return
	}
	byName := map[string][]audit.Partner{}
	for _, p := range rows {
		byName[p.Name] = append(byName[p.Name], p)
	}
	for i := range res.Partners {
		DecidePartner(&res.Partners[i], byName[res.Partners[i].Name], o)
	}
}

// DecidePartner sets Delivery on every probed target of p and on p itself.
// rows are the inventory rows of p's name, in inventory order (each
// target's row, by line, gives the domain its mail is addressed to); a
// target whose row is not among them uses p's own domain. Its memory does
// not depend on the run: the pipeline calls it a partner at a time.
func DecidePartner(p *audit.Result, rows []audit.Partner, o Options) {
	if o.MTA == nil {
		return
	}
	for k := range p.Targets {
		t := &p.Targets[k]
		row := p.Partner
		if t.Line != 0 {
			for _, r := range slices.Backward(rows) { // the last row of a line, as a map by line would keep
				if r.Line == t.Line && r.Name == p.Name {
					row = r
					break
				}
			}
		}
		t.Delivery = o.target(p, t, row)
	}
	p.Delivery = audit.WorstDelivery(p.Targets)
	if p.Delivery == nil {
		p.Delivery = undelivered(p, o.MTA)
	}
}

// Destination is the next hop our MTA looks the policy up by: the partner's
// domain for MX delivery, else "[host]:port" for a row naming only a host
// (a transport_maps next hop), or the next hop the inventory names.
func Destination(row audit.Partner, t *audit.TargetResult) string {
	if h := row.Extra[formats.NextHopColumn]; h != "" {
		return h
	}
	if row.Domain != "" {
		return row.Domain
	}
	if t.Port == 25 || t.Port == 0 {
		return "[" + t.MX + "]"
	}
	return "[" + t.MX + "]:" + strconv.Itoa(t.Port)
}

// target decides one target; nil when it was not probed.
func (o Options) target(p *audit.Result, t *audit.TargetResult, row audit.Partner) *audit.Delivery {
	if t.Verdict == audit.NotProbed || t.Verdict == "" || t.Address == "" {
		return nil
	}
	dest := Destination(row, t)
	in := o.input(p, t, row)
	tlsa, known := mtapolicy.TLSANone, false
	if o.TLSA != nil {
		tlsa, known = o.TLSA(p, t)
	}
	in.TLSA = tlsa
	d := o.unlessTLSA(known, in, func(in mtapolicy.Input) mtapolicy.Decision { return worst(o.MTA.Evaluate(dest, in)) })
	out := toDelivery(d)
	var w *mtapolicy.Decision
	switch {
	case o.WhatIfLevel != nil && o.MTA.HasPostfix:
		x := o.unlessTLSA(known, in, func(in mtapolicy.Input) mtapolicy.Decision { return o.MTA.WhatIfPostfix(dest, *o.WhatIfLevel, in) })
		w = &x
	case o.WhatIfDomainSecure && (o.MTA.HasServer || o.MTA.HasOnline):
		x := o.unlessTLSA(known, in, func(in mtapolicy.Input) mtapolicy.Decision { return whatIfDomainSecure(o.MTA, in) })
		w = &x
	}
	if w != nil {
		out.WhatIfPolicy, out.WhatIfOutcome, out.WhatIfRule = w.Policy, string(w.Outcome), w.Rule
	}
	return out
}

// unlessTLSA evaluates f; when the run has no DANE facts, f is evaluated
// under every TLSA outcome, and a decision that depends on it is
// Undetermined rather than guessed. For an MX answer that is not
// DNSSEC-secure there are no TLSA facts to miss: an MTA looks TLSA up only
// under a secure MX (RFC 7672 2.2).
func (o Options) unlessTLSA(known bool, in mtapolicy.Input, f func(mtapolicy.Input) mtapolicy.Decision) mtapolicy.Decision {
	if !known && !in.MXSecure {
		in.TLSA, known = mtapolicy.TLSANone, true
	}
	if known {
		return f(in)
	}
	var first mtapolicy.Decision
	for i, t := range []mtapolicy.TLSA{mtapolicy.TLSANone, mtapolicy.TLSAUnusable, mtapolicy.TLSAValid, mtapolicy.TLSAMismatch, mtapolicy.TLSABogus} {
		in.TLSA = t
		d := f(in)
		if i == 0 {
			first = d
			continue
		}
		if d.Outcome != first.Outcome {
			first.Outcome = mtapolicy.Undetermined
			first.Rule = fmt.Sprintf("%s: DANE was not evaluated in this run (no TLSA facts for %s), and this policy's outcome depends on the TLSA records", first.MTA, in.MXHost)
			first.Clear = false
			return first
		}
	}
	return first
}

// whatIfDomainSecure decides as Exchange Server would with the domain on
// TLSSendDomainSecureList and its connector DomainSecureEnabled.
func whatIfDomainSecure(m *mtapolicy.MTA, in mtapolicy.Input) mtapolicy.Decision {
	c := m.Server
	if !m.HasServer {
		c = m.Online
	}
	r, ok := c.Route(in.NextHop)
	if !ok {
		return mtapolicy.Decision{Outcome: mtapolicy.Undetermined, MTA: "Exchange Server", Rule: "Exchange Server: no send connector's address space matches " + in.NextHop}
	}
	r.Online, r.DomainSecure, r.DNSRouting, r.IgnoreSTARTTLS = false, true, true, false
	d := mtapolicy.EvaluateExchange(r, true, in)
	d.Policy = "Domain Security (" + in.NextHop + " on TLSSendDomainSecureList, DomainSecureEnabled)"
	return d
}

// worst is the worst of the decisions of every configured MTA.
func worst(ds []mtapolicy.Decision) mtapolicy.Decision {
	var w mtapolicy.Decision
	for i, d := range ds {
		if i == 0 || audit.WorseDelivery(string(d.Outcome), string(w.Outcome)) {
			w = d
		}
	}
	return w
}

func toDelivery(d mtapolicy.Decision) *audit.Delivery {
	return &audit.Delivery{Outcome: string(d.Outcome), MTA: d.MTA, Policy: d.Policy, Source: d.Source, Rule: d.Rule, Clear: d.Clear}
}

// input is what the audit knows about a target, as mtapolicy reads it.
func (o Options) input(p *audit.Result, t *audit.TargetResult, row audit.Partner) mtapolicy.Input {
	in := mtapolicy.Input{
		NextHop:        mtapolicy.NextHopName(Destination(row, t)),
		MXHost:         t.MX,
		MXSecure:       t.DNSSEC,
		STARTTLS:       t.SMTP.StartTLS || t.TLS == audit.Implicit,
		HandshakeError: t.SMTP.HandshakeErr,
		TLSVersion:     versionByName(t.TLSVersion),
		Now:            o.Now,
	}
	for _, c := range t.Chain {
		x, err := x509.ParseCertificate(c.DER)
		if err != nil {
			in.Chain = nil // a chain Go cannot parse: the handshake would have failed
			in.HandshakeError = fmt.Sprintf("unparsable certificate: %v", err)
			break
		}
		in.Chain = append(in.Chain, x)
	}
	if len(in.Chain) > 0 && o.Verify != nil {
		in.Path, in.ChainError = o.Verify(in.Chain)
	}
	if t.Revocation != nil {
		switch t.Revocation.Status {
		case "good":
			in.Revocation = mtapolicy.RevocationGood
		case "revoked":
			in.Revocation = mtapolicy.RevocationRevoked
		case "unknown", "offline":
			in.Revocation = mtapolicy.RevocationUnknown
		}
	}
	if o.FailingFor != nil {
		in.FailingFor = o.FailingFor(p, t)
	}
	return in
}

// versionByName reads the name crypto/tls.VersionName gives.
func versionByName(s string) uint16 {
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13, tls.VersionSSL30} {
		if tls.VersionName(v) == s {
			return v
		}
	}
	return 0
}

// undelivered is the delivery of a partner none of whose targets was
// probed: a null MX bounces at once (RFC 7505), a domain whose MX hosts
// could not be found is deferred (a DNS failure is temporary to an MTA).
func undelivered(p *audit.Result, m *mtapolicy.MTA) *audit.Delivery {
	mta := "Postfix"
	if !m.HasPostfix {
		mta = "Exchange Server"
		if !m.HasServer {
			mta = "Exchange Online"
		}
	}
	switch p.Verdict {
	case audit.NullMX:
		return &audit.Delivery{Outcome: audit.Bounces, MTA: mta, Rule: mta + ": the domain publishes a null MX (RFC 7505): it accepts no mail, the message bounces at once"}
	case audit.DNSError:
		return &audit.Delivery{Outcome: audit.Deferred, MTA: mta, Rule: mta + ": no MX host or address could be found (" + p.Error + "): the message stays queued while the lookup fails"}
	}
	return nil
}

// TLSAFrom reads the DANE outcome the policy stage attached to a target
// (audit.Policies.DANE) as Options.TLSA wants it; ok is false when DANE
// was not evaluated (nil, or no DANE outcome).
func TLSAFrom(p *audit.Policies) (tlsa mtapolicy.TLSA, ok bool) {
	if p == nil {
		return "", false
	}
	switch p.DANE {
	case "valid":
		return mtapolicy.TLSAValid, true
	case "mismatch":
		return mtapolicy.TLSAMismatch, true
	case "no-tls": // usable records, and no TLS to match them against: deferred either way
		return mtapolicy.TLSAMismatch, true
	case "bogus":
		return mtapolicy.TLSABogus, true
	case "unusable":
		return mtapolicy.TLSAUnusable, true
	case "none", "insecure":
		return mtapolicy.TLSANone, true
	}
	return "", false
}
