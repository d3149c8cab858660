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
	// StoreOf names where a trust anchor came from (audit.RootSystem or
	// audit.RootPrivate, and a file); nil means every anchor is "system".
	StoreOf func(*x509.Certificate) (source, file string)
	// Anchors are certificates of Roots (the private roots at least) that
	// Verify links a chain to by itself where crypto/x509 refuses the link:
	// a SHA-1 signature, which Windows still accepts under a private root.
	// A refused link to a root not listed here is anchored by its subject.
	Anchors []*x509.Certificate
	Now     time.Time
	// Thresholds grade key strength (WeakKey); the zero value means
	// audit.DefaultThresholds().
	Thresholds audit.Thresholds
}

// Outcome is every verdict that applies to a chain, and the anchor it ended in.
type Outcome struct {
	Verdicts []audit.Verdict // sorted by audit.Order; Valid alone when nothing is wrong
	Details  map[audit.Verdict]string
	Cases    map[audit.Verdict]audit.Case // which case of a verdict applies, for its remedy
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
	o := Outcome{Details: map[audit.Verdict]string{}, Cases: map[audit.Verdict]audit.Case{}, Root: audit.Root{Store: audit.RootNone}}
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
	if in.Enforced && in.Domain != "" && !audit.CoversDomain(leaf, in.Domain) {
		o.add(audit.DomainMismatch, "the certificate names %s, not the partner's domain %s nor a name under it", names(leaf), in.Domain)
	}
	th := opts.Thresholds
	if th == (audit.Thresholds{}) {
		th = audit.DefaultThresholds()
	}
	for i, c := range in.Chain {
		if kt, bits := audit.KeyInfo(c); th.WeakKey(kt, bits) {
			o.add(audit.WeakKey, "%s key of %s is %d bits, below the minimum of %d", kt, role(i), bits, th.MinKeyBits(kt))
		}
		if weakSig(c.SignatureAlgorithm) && !selfIssued(c) {
			o.add(audit.WeakSignature, "%s (%s) is signed with %s", role(i), c.Subject, c.SignatureAlgorithm)
		}
	}
	checkPins(&o, leaf, in.ExpectedIssuer, in.ExpectedSubject)
	checkChain(&o, in.Chain, opts, now)
	if _, ok := o.Details[audit.WeakSignature]; ok {
		o.Details[audit.WeakSignature] += weakSigNote(o.Root)
	}
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

// weakSigNote says what a SHA-1 or MD5 signature means under the root the
// chain ends in; audit.Verdict.SeverityUnder grades it the same way.
func weakSigNote(root audit.Root) string {
	switch root.Store {
	case audit.RootSystem:
		return fmt.Sprintf("; the chain ends in the public root %s: Windows refuses SHA-1 in server chains to roots of the Microsoft Trusted Root Program, and Go refuses it too, so mail fails", root.Subject)
	case audit.RootPrivate:
		return fmt.Sprintf("; the chain ends in the imported private root %s (%s): Windows accepts SHA-1 under enterprise roots, but Go- and OpenSSL 3-based senders refuse it", root.Subject, root.File)
	}
	return "; the chain reaches no trusted root: imported as a private root, Windows would accept SHA-1, Go- and OpenSSL 3-based senders would not"
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
		o.add(audit.IssuerChanged, "issuer is %s, pinned %s (the certificate reads %s)", dn.Windows(leaf.Issuer), wantIssuer, got)
	}
	if len(sub) > 0 && !dn.Match(sub, dn.FromPKIX(leaf.Subject)) {
		o.add(audit.IssuerChanged, "subject is %s, pinned %s (the certificate reads %s)", dn.Windows(leaf.Subject), wantSubject, got)
	}
}

func selfIssued(c *x509.Certificate) bool { return bytes.Equal(c.RawIssuer, c.RawSubject) }

// checkChain judges the chain the server sent on its own (issuer links,
// signatures, basic constraints, path lengths, usages), whether or not it
// reaches a trust anchor, and then looks for the anchor: a partner who
// fixes trust must not meet the next blocker afterwards.
func checkChain(o *Outcome, chain []*x509.Certificate, opts Options, now time.Time) {
	roots := opts.Roots
	if roots == nil {
		roots = x509.NewCertPool()
	}
	sent := walk(chain)
	path, goErr := goVerify(chain, roots, now)
	if path != nil {
		checkUsage(o, path)
	} else {
		checkLinks(o, sent)
		checkUsage(o, sent)
	}
	var anchor *x509.Certificate
	switch {
	case path != nil:
		anchor = path[len(path)-1]
	default:
		var bySubject bool
		anchor, bySubject = anchorOf(sent[len(sent)-1], roots, opts.Anchors)
		if anchor == nil && bySubject {
			// Trusted by subject only (Go cannot check the SHA-1 link and the
			// root is not among Anchors): a system root.
			end := sent[len(sent)-1]
			o.Root = audit.Root{Store: audit.RootSystem, Subject: end.Issuer.String()}
			explain(o, goErr)
			return
		}
		if anchor != nil {
			path = sent
			if !anchor.Equal(sent[len(sent)-1]) {
				path = append(slices.Clone(sent), anchor)
			}
		}
	}
	if anchor == nil {
		unanchored(o, sent)
		return
	}
	src, file := audit.RootSystem, ""
	if opts.StoreOf != nil {
		src, file = opts.StoreOf(anchor)
	}
	o.Root = audit.Root{Store: src, File: file, Subject: anchor.Subject.String(), NotAfter: anchor.NotAfter.UTC(), SHA256: audit.NewCert(anchor).SHA256}
	for _, c := range path[1:] {
		if !slices.ContainsFunc(chain, func(p *x509.Certificate) bool { return p.Equal(c) }) {
			who := "the trusted root"
			if src == audit.RootPrivate {
				who = "the imported private root " + file
			}
			checkTime(o, c, who, now)
		}
	}
	if goErr != nil {
		explain(o, goErr)
	}
	if _, broken := o.Details[audit.InvalidChain]; !broken {
		o.Path = path
	}
}

// goVerify asks crypto/x509 for a path to a trust anchor, at a moment when
// every certificate involved was valid (time problems are named apart),
// and for any usage (usages are judged apart). It returns the path, or nil
// and x509's error.
func goVerify(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	vo := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	seen := slices.Clone(chain)
	var err error
	for try := 0; try < 4; try++ {
		var chains [][]*x509.Certificate
		chains, err = chain[0].Verify(vo)
		if err == nil {
			return chains[0], nil
		}
		var ce x509.CertificateInvalidError
		if !errors.As(err, &ce) || ce.Reason != x509.Expired {
			return nil, err
		}
		if ce.Cert != nil {
			seen = append(seen, ce.Cert)
		}
		t, ok := commonMoment(seen)
		if !ok {
			return nil, err
		}
		vo.CurrentTime = t
	}
	return nil, err
}

// checkLinks judges each issuer link of the sent path as Windows and
// OpenSSL do, with SHA-1 signatures checked rather than refused.
func checkLinks(o *Outcome, sent []*x509.Certificate) {
	for i := 0; i+1 < len(sent); i++ {
		child, parent := sent[i], sent[i+1]
		who := fmt.Sprintf("%s (%s)", role(i+1), parent.Subject)
		switch {
		case !parent.BasicConstraintsValid:
			o.add(audit.InvalidChain, "%s issued %s but has no basicConstraints extension, so it is not a CA (Windows: InvalidBasicConstraints)", who, child.Subject)
		case !parent.IsCA:
			o.add(audit.InvalidChain, "%s issued %s but is not a CA (basicConstraints CA:FALSE; Windows: InvalidBasicConstraints, OpenSSL: invalid CA certificate)", who, child.Subject)
		}
		if parent.KeyUsage != 0 && parent.KeyUsage&x509.KeyUsageCertSign == 0 {
			o.add(audit.InvalidChain, "%s issued %s but its key usage does not allow signing certificates (keyCertSign)", who, child.Subject)
		}
		// i certificates below parent are CAs (the leaf is not counted).
		if parent.MaxPathLen >= 0 && (parent.MaxPathLen > 0 || parent.MaxPathLenZero) && i > parent.MaxPathLen {
			o.add(audit.InvalidChain, "%s allows %d CA certificates below it (pathLenConstraint) but has %d", who, parent.MaxPathLen, i)
		}
		if err := parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature); err != nil {
			var weak x509.InsecureAlgorithmError
			if !errors.As(err, &weak) { // MD5 and MD2: WeakSignature says it
				o.add(audit.InvalidChain, "the signature on %s does not verify with the key of %s, which names itself as its issuer (Windows: NotSignatureValid)", child.Subject, who)
			}
		}
	}
}

// checkUsage judges the extended key usage of the leaf and, as Windows and
// Go nest them, of every CA above it.
func checkUsage(o *Outcome, path []*x509.Certificate) {
	for i, c := range path {
		if serverAuth(c) {
			continue
		}
		if i == 0 {
			o.add(audit.WrongUsage, "the leaf's extended key usage %s does not include serverAuth", ekus(c))
			continue
		}
		if !selfIssued(c) || i < len(path)-1 {
			o.add(audit.WrongUsage, "%s (%s) restricts the certificates below it to %s, without serverAuth", role(i), c.Subject, ekus(c))
		}
	}
}

func serverAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny)
}

// anchorOf finds the trust anchor that issued end (or is end): by
// crypto/x509 first, then, for a link x509 refuses (SHA-1), among anchors by
// name and signature. bySubject reports a root of that name in roots whose
// certificate is not at hand.
func anchorOf(end *x509.Certificate, roots *x509.CertPool, anchors []*x509.Certificate) (anchor *x509.Certificate, bySubject bool) {
	if p, err := goVerify([]*x509.Certificate{end}, roots, end.NotBefore.Add(end.NotAfter.Sub(end.NotBefore)/2)); err == nil {
		return p[len(p)-1], false
	}
	if selfIssued(end) {
		return nil, false
	}
	for _, a := range anchors {
		if bytes.Equal(a.RawSubject, end.RawIssuer) && a.CheckSignature(end.SignatureAlgorithm, end.RawTBSCertificate, end.Signature) == nil {
			return a, false
		}
	}
	if !weakSig(end.SignatureAlgorithm) {
		return nil, false
	}
	// Subjects is deprecated for system pools on some platforms; on Linux,
	// and for pools built from files, it lists every root, and only a name
	// is needed here.
	for _, s := range roots.Subjects() { //nolint:staticcheck // see above
		if bytes.Equal(s, end.RawIssuer) {
			return nil, true
		}
	}
	return nil, false
}

// unanchored names why a chain that reaches no trust anchor fails: a
// self-signed leaf, a sent but untrusted root, or a missing issuer, which
// is the partner's root when the chain already holds a CA.
func unanchored(o *Outcome, sent []*x509.Certificate) {
	end := sent[len(sent)-1]
	switch {
	case selfIssued(end) && len(sent) == 1:
		if err := end.CheckSignature(end.SignatureAlgorithm, end.RawTBSCertificate, end.Signature); err != nil && !weakSig(end.SignatureAlgorithm) {
			o.add(audit.InvalidChain, "the leaf names itself as its issuer, but its signature does not verify with its own key")
			return
		}
		o.add(audit.SelfSigned, "the leaf %s is self-signed and not in the trusted roots", end.Subject)
		o.Root.Subject = end.Subject.String()
	case selfIssued(end):
		o.add(audit.UntrustedRoot, "the chain ends in the root %s, which is not a trusted root", end.Subject)
		o.Root.Subject = end.Subject.String()
		o.Root.NotAfter = end.NotAfter.UTC()
	default:
		c := audit.PartialChainCase(len(sent))
		o.Cases[audit.PartialChain] = c
		o.Root.Subject = end.Issuer.String()
		if c == audit.CaseMissingRoot {
			o.add(audit.PartialChain, "the server sends %d certificates, up to the CA %s; its issuer %s was not sent and is not a trusted root: most likely the partner's root CA, which servers do not send and which must be imported", len(sent), end.Subject, end.Issuer)
			return
		}
		o.add(audit.PartialChain, "the server sends only its own certificate; its issuer %s was not sent and is not a trusted root: the intermediate CA is missing", end.Issuer)
	}
}

// explain names, in words, a refusal by crypto/x509 of a chain that
// reaches an anchor, unless a verdict already says why.
func explain(o *Outcome, err error) {
	for _, v := range []audit.Verdict{audit.InvalidChain, audit.WrongUsage, audit.WeakSignature} {
		if _, ok := o.Details[v]; ok {
			return
		}
	}
	var ce x509.CertificateInvalidError
	var he x509.HostnameError
	switch {
	case errors.As(err, &ce) && ce.Reason == x509.CANotAuthorizedForThisName:
		o.add(audit.InvalidChain, "a CA of the chain is not allowed to issue for the names of %s (name constraints; Windows: HasNotPermittedNameConstraint)", certName(ce.Cert))
	case errors.As(err, &ce) && ce.Reason == x509.TooManyIntermediates:
		o.add(audit.InvalidChain, "the chain is longer than a CA's path length constraint allows (Windows: InvalidBasicConstraints)")
	case errors.As(err, &ce) && ce.Reason == x509.NotAuthorizedToSign:
		o.add(audit.InvalidChain, "%s signed a certificate although it is not a CA", certName(ce.Cert))
	case errors.As(err, &ce) && ce.Reason == x509.Expired:
		// Named by the time checks already.
	case errors.As(err, &he):
	default:
		o.add(audit.InvalidChain, "the chain reaches a trusted root, but the links cannot be verified (a signature, a constraint or an unsupported algorithm)")
	}
}

func certName(c *x509.Certificate) string {
	if c == nil {
		return "a certificate"
	}
	return c.Subject.String()
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
		case x509.ExtKeyUsageServerAuth:
			s = append(s, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			s = append(s, "clientAuth")
		case x509.ExtKeyUsageEmailProtection:
			s = append(s, "emailProtection")
		case x509.ExtKeyUsageCodeSigning:
			s = append(s, "codeSigning")
		case x509.ExtKeyUsageTimeStamping:
			s = append(s, "timeStamping")
		case x509.ExtKeyUsageOCSPSigning:
			s = append(s, "OCSPSigning")
		default:
			s = append(s, fmt.Sprintf("usage %d", int(u)))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		s = append(s, oid.String())
	}
	return "(" + strings.Join(s, ", ") + ")"
}
