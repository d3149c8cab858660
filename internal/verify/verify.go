// Package verify names everything that is wrong with a presented
// certificate chain, the way Windows/Exchange admins know it.
//
// crypto/x509's Verify stops at the first error; Windows reports a bitmask
// of every chain status. Verify here checks time, names, key and signature
// strength, pins and the chain separately, so an expired certificate with
// the wrong name comes out as both Expired and NameMismatch, and it walks
// the issuer links itself to tell apart the five problems x509 reports as
// UnknownAuthorityError (untrusted root, partial chain, self-signed leaf,
// bad signature, issuer not a CA).
package verify

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/audit/dn"
)

// Input is a presented chain and what the partner's inventory row expects of it.
type Input struct {
	Chain           []*x509.Certificate // leaf first, as the server sent it
	Host            string              // the name the leaf must carry (the MX host)
	Domain          string              // the partner's domain (Domain Security check)
	Enforced        bool                // partner is on the enforced-TLS list
	ExpectedIssuer  string              // pinned issuer DN, or a whole <I>issuer<S>subject pin
	ExpectedSubject string              // pinned subject DN
}

// Options are the trust anchors and the clock to verify against.
type Options struct {
	Roots *x509.CertPool
	// Source names where a trust anchor came from (audit.RootSystem or
	// audit.RootPrivate, and a file); nil means every anchor is "system".
	Source func(*x509.Certificate) (source, file string)
	Now    time.Time
}

// Outcome is every verdict that applies to a chain, and the anchor it ended in.
type Outcome struct {
	Verdicts []audit.Verdict // sorted by audit.Order; Valid alone when nothing is wrong
	Details  map[audit.Verdict]string
	Root     audit.Root
	Path     []*x509.Certificate // the verified path, leaf to anchor, or nil
}

// Primary returns the most severe verdict.
func (o *Outcome) Primary() audit.Verdict { return audit.Primary(o.Verdicts) }

func (o *Outcome) add(v audit.Verdict, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if old, ok := o.Details[v]; ok {
		if !strings.Contains(old, msg) {
			o.Details[v] = old + "; " + msg
		}
		return
	}
	o.Verdicts = append(o.Verdicts, v)
	o.Details[v] = msg
}

// Verify checks in against opts and returns every verdict that applies.
func Verify(in Input, opts Options) Outcome {
	o := Outcome{Details: map[audit.Verdict]string{}, Root: audit.Root{Source: audit.RootNone}}
	if len(in.Chain) == 0 {
		o.add(audit.HandshakeFailed, "no certificate presented")
		return o
	}
	leaf := in.Chain[0]
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	for i, c := range in.Chain {
		checkTime(&o, c, role(i), now)
	}
	checkName(&o, leaf, in.Host)
	if in.Enforced && in.Domain != "" && !coversDomain(leaf, in.Domain) {
		o.add(audit.DomainMismatch, "the certificate names %s, not the partner's domain %s nor a name under it", names(leaf), in.Domain)
	}
	for i, c := range in.Chain {
		if kt, bits := audit.KeyInfo(c); weakKey(kt, bits) {
			o.add(audit.WeakKey, "%s key of %s is %d bits", kt, role(i), bits)
		}
		if weakSig(c.SignatureAlgorithm) && !selfIssued(c) {
			o.add(audit.WeakSignature, "%s is signed with %s", role(i), c.SignatureAlgorithm)
		}
	}
	checkPins(&o, leaf, in.ExpectedIssuer, in.ExpectedSubject)
	checkChain(&o, in.Chain, opts, now)
	if len(o.Verdicts) == 0 {
		o.Verdicts = []audit.Verdict{audit.Valid}
	}
	slices.SortStableFunc(o.Verdicts, func(a, b audit.Verdict) int { return a.Rank() - b.Rank() })
	return o
}

func role(i int) string {
	if i == 0 {
		return "the leaf"
	}
	return fmt.Sprintf("chain certificate %d", i+1)
}

func checkTime(o *Outcome, c *x509.Certificate, who string, now time.Time) {
	switch {
	case now.After(c.NotAfter):
		o.add(audit.Expired, "%s (%s) expired on %s", who, c.Subject, c.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(c.NotBefore):
		o.add(audit.NotYetValid, "%s (%s) is not valid before %s", who, c.Subject, c.NotBefore.UTC().Format(time.RFC3339))
	}
}

func checkName(o *Outcome, leaf *x509.Certificate, host string) {
	if host == "" {
		return
	}
	if err := leaf.VerifyHostname(host); err != nil {
		o.add(audit.NameMismatch, "the certificate names %s, not %s", names(leaf), host)
	}
}

func names(c *x509.Certificate) string {
	ns := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		ns = append(ns, ip.String())
	}
	if len(ns) == 0 {
		if c.Subject.CommonName != "" {
			return fmt.Sprintf("only the subject CN %q (no subject alternative names)", c.Subject.CommonName)
		}
		return "no names"
	}
	return strings.Join(ns, ", ")
}

// coversDomain reports whether c names domain or a name under it, in its
// DNS names or (as Exchange also looks there) its subject CN.
func coversDomain(c *x509.Certificate, domain string) bool {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, n := range append(slices.Clone(c.DNSNames), c.Subject.CommonName) {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n == d || strings.HasSuffix(n, "."+d) {
			return true
		}
	}
	return false
}

func weakKey(kind string, bits int) bool {
	switch kind {
	case "RSA":
		return bits < 2048
	case "ECDSA":
		return bits < 256
	}
	return false
}

func weakSig(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		return true
	}
	return false
}

func checkPins(o *Outcome, leaf *x509.Certificate, wantIssuer, wantSubject string) {
	if wantIssuer == "" && wantSubject == "" {
		return
	}
	var iss, sub dn.Name
	var err error
	if strings.HasPrefix(strings.TrimSpace(wantIssuer), "<I>") || strings.HasPrefix(strings.TrimSpace(wantIssuer), "<S>") {
		iss, sub, err = dn.ParsePin(wantIssuer)
	} else if wantIssuer != "" {
		iss, err = dn.Parse(wantIssuer)
	}
	if err == nil && wantSubject != "" {
		sub, err = dn.Parse(wantSubject)
	}
	if err != nil {
		o.add(audit.IssuerChanged, "the pin cannot be read: %v", err)
		return
	}
	got := dn.TLSCertificateName(leaf.Issuer, leaf.Subject)
	if len(iss) > 0 && !dn.Match(iss, dn.FromPKIX(leaf.Issuer)) {
		o.add(audit.IssuerChanged, "issuer is %s, pinned %s; the certificate's TlsCertificateName is %s", dn.Windows(leaf.Issuer), wantIssuer, got)
	}
	if len(sub) > 0 && !dn.Match(sub, dn.FromPKIX(leaf.Subject)) {
		o.add(audit.IssuerChanged, "subject is %s, pinned %s; the certificate's TlsCertificateName is %s", dn.Windows(leaf.Subject), wantSubject, got)
	}
}

func selfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }

// checkChain builds the path to a trust anchor and names why it fails.
func checkChain(o *Outcome, chain []*x509.Certificate, opts Options, now time.Time) {
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	vo := x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if vo.Roots == nil {
		vo.Roots = x509.NewCertPool()
	}
	// Time problems are already named; look for chain problems at a moment
	// when every certificate involved was valid.
	seen := slices.Clone(chain)
	var chains [][]*x509.Certificate
	var err error
	for try := 0; try < 4; try++ {
		chains, err = leaf.Verify(vo)
		var ce x509.CertificateInvalidError
		if err == nil || !errors.As(err, &ce) || ce.Reason != x509.Expired {
			break
		}
		if ce.Cert != nil {
			seen = append(seen, ce.Cert)
		}
		t, ok := commonMoment(seen)
		if !ok {
			o.Details[audit.Expired] += "; the certificates were never valid at the same time, so the chain was not built"
			return
		}
		vo.CurrentTime = t
	}
	var ce x509.CertificateInvalidError
	if errors.As(err, &ce) && ce.Reason == x509.IncompatibleUsage {
		o.add(audit.WrongUsage, "the leaf's extended key usage %s does not include serverAuth", ekus(leaf))
		vo.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		chains, err = leaf.Verify(vo)
	}
	if err == nil {
		path := chains[0]
		o.Path = path
		anchor := path[len(path)-1]
		src, file := audit.RootSystem, ""
		if opts.Source != nil {
			src, file = opts.Source(anchor)
		}
		o.Root = audit.Root{Source: src, File: file, Subject: anchor.Subject.String(), NotAfter: anchor.NotAfter.UTC(), SHA256: audit.NewCert(anchor).SHA256}
		for _, c := range path[1:] {
			if !slices.ContainsFunc(chain, func(p *x509.Certificate) bool { return p.Equal(c) }) {
				who := "trusted root"
				if src == audit.RootPrivate {
					who = "imported private root " + file
				}
				checkTime(o, c, who, now)
			}
		}
		return
	}
	if errors.As(err, &ce) {
		o.add(audit.InvalidChain, "%v", err)
		return
	}
	classify(o, chain, vo, err)
}

// commonMoment returns the middle of the time all of cs were valid, if there is one.
func commonMoment(cs []*x509.Certificate) (time.Time, bool) {
	lo, hi := cs[0].NotBefore, cs[0].NotAfter
	for _, c := range cs[1:] {
		if c.NotBefore.After(lo) {
			lo = c.NotBefore
		}
		if c.NotAfter.Before(hi) {
			hi = c.NotAfter
		}
	}
	if !lo.Before(hi) {
		return time.Time{}, false
	}
	return lo.Add(hi.Sub(lo) / 2), true
}

func ekus(c *x509.Certificate) string {
	var s []string
	for _, u := range c.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageClientAuth:
			s = append(s, "clientAuth")
		case x509.ExtKeyUsageEmailProtection:
			s = append(s, "emailProtection")
		case x509.ExtKeyUsageCodeSigning:
			s = append(s, "codeSigning")
		default:
			s = append(s, fmt.Sprint(int(u)))
		}
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// classify tells apart the failures x509 reports as an unknown authority.
func classify(o *Outcome, chain []*x509.Certificate, vo x509.VerifyOptions, verr error) {
	path := walk(chain)
	end := path[len(path)-1]
	insecure := strings.Contains(verr.Error(), "insecure algorithm")
	switch {
	case len(path) == 1 && selfIssued(end):
		if err := end.CheckSignature(end.SignatureAlgorithm, end.RawTBSCertificate, end.Signature); err != nil && !insecure {
			o.add(audit.InvalidChain, "the self-signed certificate's signature does not verify: %v", err)
			return
		}
		o.add(audit.SelfSigned, "the leaf %s is self-signed and not in the trusted roots", end.Subject)
		o.Root.Subject = end.Subject.String()
	case selfIssued(end):
		// A complete chain: would it verify if its own root were trusted?
		vo.Roots = vo.Roots.Clone()
		vo.Roots.AddCert(end)
		if _, err := chain[0].Verify(vo); err != nil && !insecure {
			o.add(audit.InvalidChain, "the chain up to %s does not verify: %v", end.Subject, err)
			return
		}
		o.add(audit.UntrustedRoot, "the chain ends in %s, which is not a trusted root", end.Subject)
		o.Root.Subject = end.Subject.String()
		o.Root.NotAfter = end.NotAfter.UTC()
	default:
		// The last certificate we can reach names an issuer nobody sent.
		// If that certificate verifies on its own, its issuer is trusted and
		// the break is further down (bad signature, issuer not a CA).
		alone := vo
		alone.Intermediates = nil
		alone.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		_, err := end.Verify(alone)
		switch {
		case insecure:
			o.Details[audit.WeakSignature] += "; Go (like current Windows) refuses to build a chain signed with it"
		case err == nil && len(path) > 1:
			o.add(audit.InvalidChain, "the chain up to %s does not verify: %v", end.Subject, verr)
		case err == nil:
			o.add(audit.InvalidChain, "%v", verr)
		default:
			o.add(audit.PartialChain, "the issuer %s of %s was not sent and is not a trusted root", end.Issuer, end.Subject)
			o.Root.Subject = end.Issuer.String()
		}
	}
}

// walk follows issuer links from the leaf through the presented certificates.
func walk(chain []*x509.Certificate) []*x509.Certificate {
	path := []*x509.Certificate{chain[0]}
	used := map[int]bool{0: true}
	for cur := chain[0]; !selfIssued(cur); {
		next := -1
		for i, c := range chain {
			if used[i] || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
				continue
			}
			if len(cur.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(cur.AuthorityKeyId, c.SubjectKeyId) {
				continue
			}
			next = i
			break
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = chain[next]
		path = append(path, cur)
	}
	return path
}
