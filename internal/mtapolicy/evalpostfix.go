package mtapolicy

import (
	"fmt"
	"slices"
	"strings"
)

// EvaluatePostfix decides what Postfix's SMTP client does for a target
// under policy p (an entry of smtp_tls_policy_maps, or c.Default()) with
// main.cf settings c.
func EvaluatePostfix(p PostfixPolicy, c PostfixConfig, in Input) Decision {
	e := pfEval{p: p, c: c, in: in, d: Decision{MTA: "Postfix", Policy: p.String(), Source: p.Where()}}
	return e.run()
}

type pfEval struct {
	p  PostfixPolicy
	c  PostfixConfig
	in Input
	d  Decision
}

func (e *pfEval) deliver(o Outcome, format string, args ...any) Decision {
	e.d.Outcome = o
	e.d.Rule = fmt.Sprintf(format, args...)
	return e.d
}

func (e *pfEval) deliverClear(format string, args ...any) Decision {
	e.d.Clear = true
	return e.deliver(DeliversUnauthenticated, format, args...)
}

func (e *pfEval) deferred(format string, args ...any) Decision {
	e.d.Rule = fmt.Sprintf(format, args...)
	return deferOrBounce(e.d, e.in, e.c.QueueLifetime, "maximal_queue_lifetime")
}

func (e *pfEval) run() Decision {
	if e.p.Invalid != "" {
		return e.deferred("Postfix: 4.7.5 client TLS configuration problem: %s", e.p.Invalid)
	}
	switch e.p.Level {
	case LevelNone:
		return e.deliverClear("Postfix none: TLS is disabled for this destination; mail goes in clear text")
	case LevelMay:
		return e.may("may")
	case LevelEncrypt:
		return e.encrypt("encrypt")
	case LevelDane, LevelDaneOnly:
		return e.dane()
	case LevelFingerprint:
		return e.fingerprint()
	case LevelVerify, LevelSecure:
		return e.pkix()
	}
	return e.deferred("Postfix: 4.7.5 client TLS configuration problem: unknown security level %d", int(e.p.Level))
}

// protocols returns the versions the level allows, from protocols= or main.cf.
func (e *pfEval) protocols(mandatory bool) ([]uint16, string, error) {
	src, name := e.p.Protocols, "protocols="
	if src == "" {
		src, name = e.c.MandatoryProtocols, "smtp_tls_mandatory_protocols"
		if !mandatory {
			src, name = e.c.Protocols, "smtp_tls_protocols"
		}
	}
	vs, err := ParseProtocols(src)
	return vs, fmt.Sprintf("%s %s", name, src), err
}

// session checks what every TLS level needs: STARTTLS, a handshake, a
// protocol version the policy allows. It returns why not, or a note.
func (e *pfEval) session(mandatory bool) (ok bool, why, note string) {
	in := e.in
	if !in.STARTTLS {
		return false, fmt.Sprintf("TLS is required, but was not offered by host %s", in.MXHost), ""
	}
	if in.HandshakeError != "" {
		return false, fmt.Sprintf("Cannot start TLS: handshake failure (%s)", in.HandshakeError), ""
	}
	if len(in.Chain) == 0 {
		return false, "Cannot start TLS: the server presented no certificate", ""
	}
	allowed, from, err := e.protocols(mandatory)
	if err != nil {
		return false, fmt.Sprintf("Invalid TLS protocol list (%s): %v", from, err), ""
	}
	names := func(vs []uint16) string {
		var s []string
		for _, v := range vs {
			s = append(s, versionName(v))
		}
		return strings.Join(s, ", ")
	}
	if len(allowed) == 0 {
		return false, fmt.Sprintf("no TLS protocol version is left by %s", from), ""
	}
	if len(in.TLSVersions) > 0 {
		var common []uint16
		for _, v := range in.TLSVersions {
			if slices.Contains(allowed, v) {
				common = append(common, v)
			}
		}
		if len(common) == 0 {
			return false, fmt.Sprintf("Cannot start TLS: handshake failure: the server accepts %s, %s allows %s", names(in.TLSVersions), from, names(allowed)), ""
		}
		return true, "", ""
	}
	if in.TLSVersion == 0 || slices.Contains(allowed, in.TLSVersion) {
		return true, "", ""
	}
	var lower []uint16
	for _, v := range allowed {
		if v < in.TLSVersion {
			lower = append(lower, v)
		}
	}
	if len(lower) == 0 {
		return false, fmt.Sprintf("Cannot start TLS: handshake failure: the server negotiated %s, %s allows only %s", versionName(in.TLSVersion), from, names(allowed)), ""
	}
	return true, "", fmt.Sprintf(" (%s excludes the negotiated %s: assuming the server also accepts %s)", from, versionName(in.TLSVersion), versionName(lower[len(lower)-1]))
}

func (e *pfEval) may(label string) Decision {
	if !e.in.STARTTLS {
		return e.deliverClear("Postfix %s: the server does not offer STARTTLS; opportunistic TLS delivers in clear text", label)
	}
	ok, why, note := e.session(false)
	if !ok {
		return e.deliverClear("Postfix %s: %s; opportunistic TLS retries the delivery in clear text", label, why)
	}
	return e.deliver(DeliversUnauthenticated, "Postfix %s: opportunistic TLS, the certificate is not checked%s", label, note)
}

func (e *pfEval) encrypt(label string) Decision {
	ok, why, note := e.session(true)
	if !ok {
		return e.deferred("Postfix %s: %s", label, why)
	}
	return e.deliver(DeliversUnauthenticated, "Postfix %s: mandatory TLS encryption; chain, dates and names are not checked%s", label, note)
}

func (e *pfEval) dane() Decision {
	in, only := e.in, e.p.Level == LevelDaneOnly
	lvl := e.p.Level.String()
	degrade := func(to Level, why string) Decision {
		if only {
			return e.deferred("Postfix dane-only: %s: no connection is made", why)
		}
		e.d.Policy += " (effective " + to.String() + ")"
		if to == LevelMay {
			return e.may("dane, " + why + ", effective may")
		}
		return e.encrypt("dane, " + why + ", effective encrypt")
	}
	if e.c.MainCF != "" && !strings.EqualFold(e.c.DNSSupportLevel, "dnssec") {
		if only {
			return e.deferred("Postfix dane-only: 4.7.5 client TLS configuration problem: dane-only configured with dnssec lookups disabled (smtp_dns_support_level = %q)", e.c.DNSSupportLevel)
		}
		return degrade(LevelMay, fmt.Sprintf("dane configured with dnssec lookups disabled (smtp_dns_support_level = %q)", e.c.DNSSupportLevel))
	}
	if in.TLSA == TLSABogus {
		return e.deferred("Postfix %s: DNSSEC validation failed (bogus answer): TLSA lookup error for %s; the message is deferred", lvl, in.MXHost)
	}
	if !in.MXSecure {
		return degrade(LevelMay, "non DNSSEC destination (the MX answer is not DNSSEC-secure)")
	}
	switch in.TLSA {
	case TLSANone, "":
		return degrade(LevelMay, "no TLSA records found for "+in.MXHost)
	case TLSAUnusable:
		return degrade(LevelEncrypt, "TLSA records unusable for "+in.MXHost)
	}
	ok, why, note := e.session(true)
	if !ok {
		return e.deferred("Postfix %s: usable TLSA records for %s, %s", lvl, in.MXHost, why)
	}
	if in.TLSA == TLSAMismatch {
		return e.deferred("Postfix %s: Server certificate not verified: no TLSA record of %s matches the certificate chain", lvl, in.MXHost)
	}
	return e.deliver(Delivers, "Postfix %s: Verified TLS connection: a TLSA record of %s matches the chain (DNSSEC-secure MX)%s", lvl, in.MXHost, note)
}

func (e *pfEval) fingerprint() Decision {
	match, from := e.p.Match, "match="
	if len(match) == 0 {
		match, from = e.c.FingerprintCertMatch, "smtp_tls_fingerprint_cert_match"
	}
	if len(match) == 0 {
		return e.deferred("Postfix fingerprint: 4.7.5 client TLS configuration problem: configured at fingerprint security level, but with no fingerprints to match")
	}
	digest := e.c.FingerprintDigest
	if digest == "" {
		digest = "sha256"
	}
	ok, why, note := e.session(true)
	if !ok {
		return e.deferred("Postfix fingerprint: %s", why)
	}
	leaf := e.in.Chain[0]
	certFP, err := Fingerprint(digest, leaf.Raw)
	if err != nil {
		return e.deferred("Postfix fingerprint: 4.7.5 client TLS configuration problem: %v", err)
	}
	keyFP, _ := Fingerprint(digest, leaf.RawSubjectPublicKeyInfo)
	want := map[string]bool{}
	var lengths []string
	for _, m := range match {
		h, err := NormalizeFingerprint(m)
		if err != nil {
			continue
		}
		want[h] = true
		if l := digestName(len(h) / 2); l != digest && !slices.Contains(lengths, l) {
			lengths = append(lengths, l)
		}
	}
	c, _ := NormalizeFingerprint(certFP)
	k, _ := NormalizeFingerprint(keyFP)
	switch {
	case want[c]:
		return e.deliver(Delivers, "Postfix fingerprint: Verified TLS connection: the %s certificate fingerprint %s is in %s (chain and dates are not checked)%s", digest, certFP, from, note)
	case want[k]:
		return e.deliver(Delivers, "Postfix fingerprint: Verified TLS connection: the %s public-key fingerprint %s is in %s (chain and dates are not checked)%s", digest, keyFP, from, note)
	}
	msg := fmt.Sprintf("Postfix fingerprint: Server certificate not verified: neither the %s certificate fingerprint %s nor the public-key fingerprint %s is in %s", digest, certFP, keyFP, from)
	if len(lengths) > 0 {
		msg += fmt.Sprintf("; %s lists %s digests but smtp_tls_fingerprint_digest is %s", from, strings.Join(lengths, ", "), digest)
		if digest == "md5" {
			msg += " (the default below compatibility_level 3.6)"
		}
	} else {
		msg += " (the partner's key changed?)"
	}
	return e.deferred("%s", msg)
}

func (e *pfEval) pkix() Decision {
	in, lvl := e.in, e.p.Level.String()
	ok, why, note := e.session(true)
	if !ok {
		return e.deferred("Postfix %s: %s", lvl, why)
	}
	var trust string
	switch tafiles, anchors, where := e.anchors(); {
	case len(tafiles) > 0 && anchors == nil:
		e.d.Outcome = Undetermined
		e.d.Rule = fmt.Sprintf("Postfix %s: the trust anchors of %s (%s) were not loaded", lvl, where, strings.Join(tafiles, ", "))
		return e.d
	case len(tafiles) > 0:
		what, err := anchors.Accept(in.Chain, in.Now)
		if err != nil {
			return e.deferred("Postfix %s: Server certificate not trusted: %v (%s %s replaces the CA file)", lvl, err, where, strings.Join(tafiles, ", "))
		}
		trust = fmt.Sprintf("the chain is trusted by %s %s: %s", where, strings.Join(tafiles, ", "), what)
	default:
		store := "the audit's trust store"
		if e.c.CAfile != "" || e.c.CApath != "" {
			var files []string
			for _, f := range []string{e.c.CAfile, e.c.CApath} {
				if f != "" {
					files = append(files, f)
				}
			}
			store += "; Postfix trusts " + strings.Join(files, " and ") + ": audit with those roots for Postfix's exact answer"
		}
		if len(in.Path) == 0 {
			reason := in.ChainError
			if reason == "" {
				reason = "the chain does not verify"
			}
			return e.deferred("Postfix %s: Server certificate not trusted: %s (%s)", lvl, reason, store)
		}
		trust = fmt.Sprintf("the chain is trusted (%s, anchor %s)", store, in.Path[len(in.Path)-1].Subject)
	}
	strategies, from := e.p.Match, "match="
	if len(strategies) == 0 {
		strategies, from = e.c.VerifyCertMatch, "smtp_tls_verify_cert_match"
		if e.p.Level == LevelSecure {
			strategies, from = e.c.SecureCertMatch, "smtp_tls_secure_cert_match"
		}
	}
	patterns := expandMatch(strategies, in)
	leaf := in.Chain[0]
	name, pattern, matched := firstMatch(leaf, patterns)
	if !matched {
		return e.deferred("Postfix %s: Server certificate not verified: no name in the certificate matches %s (%s); it names %s (%s)",
			lvl, strings.Join(strategies, ":"), strings.Join(patterns, ", "), listNames(leaf), from)
	}
	msg := fmt.Sprintf("Postfix %s: Verified TLS connection: %s, and the certificate name %s matches %s", lvl, trust, name, pattern)
	if slices.ContainsFunc(strategies, func(s string) bool { return strings.EqualFold(s, "hostname") }) && strings.EqualFold(norm(pattern), norm(in.MXHost)) {
		if in.MXSecure {
			msg += " (the MX host name from a DNSSEC-secure answer)"
		} else {
			msg += " (the MX host name from DNS without DNSSEC: a forged MX answer would be verified too)"
		}
	}
	if in.Revocation == RevocationRevoked {
		msg += "; Postfix checks no CRL or OCSP, so the revoked certificate is accepted"
	}
	return e.deliver(Delivers, "%s%s", msg, note)
}

// anchors returns the tafiles that replace the CA file for this entry:
// the entry's own, else main.cf's smtp_tls_trust_anchor_file.
func (e *pfEval) anchors() ([]string, *Anchors, string) {
	if len(e.p.TAFiles) > 0 {
		return e.p.TAFiles, e.p.Anchors, "tafile="
	}
	if len(e.c.TrustAnchorFiles) > 0 {
		return e.c.TrustAnchorFiles, e.c.Anchors, "smtp_tls_trust_anchor_file"
	}
	return nil, nil, ""
}
