package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mxaudit/mxaudit/audit"
)

// Methods, as audit.Revocation.Method holds them.
const (
	MethodStaple     = "staple"
	MethodOCSP       = "ocsp"
	MethodCRL        = "crl"
	MethodNotChecked = "not checked"
)

// Statuses, as audit.Revocation.Status holds them.
const (
	StatusGood       = "good"
	StatusRevoked    = "revoked"
	StatusUnknown    = "unknown" // an answer came but could not be trusted or did not know the certificate
	StatusOffline    = "offline" // no responder answered
	StatusNotChecked = "not checked"
)

// clockSkew is how far in the future a ThisUpdate may lie and still be accepted.
const clockSkew = 5 * time.Minute

// NotChecked returns the Revocation of a chain that was not checked, and why.
func NotChecked(why string) audit.Revocation {
	return audit.Revocation{Method: MethodNotChecked, Status: StatusNotChecked, Detail: why}
}

// Verdict returns the verdict r implies: Revoked, RevocationOffline, or Valid when none applies.
func Verdict(r audit.Revocation) audit.Verdict {
	switch r.Status {
	case StatusRevoked:
		return audit.Revoked
	case StatusOffline, StatusUnknown:
		return audit.RevocationOffline
	}
	return audit.Valid
}

// Check checks every certificate of chain but the root for revocation and
// returns how it went and the verdict that implies (Revoked,
// RevocationOffline, or Valid when none applies).
//
// chain is a verified chain, leaf first, ending in the trust anchor (as
// x509.Verify returns it); each certificate's issuer is the next one, and a
// last certificate without its issuer is not checked. staple is the leaf's
// stapled OCSP response, or nil. For each certificate: the staple (leaf
// only), else OCSP from the AIA OCSP URL, else the HTTP CRL distribution
// points; each answer's signature, issuer and validity window at now are
// verified, and an answer that fails them is not trusted. Certificates are
// checked concurrently; the time one takes is bounded by the Fetcher's
// timeout times its number of URLs.
func (f *Fetcher) Check(ctx context.Context, chain []*x509.Certificate, staple []byte, now time.Time) (audit.Revocation, audit.Verdict) {
	switch {
	case f.opts.Offline:
		r := NotChecked("not checked: offline (--offline)")
		return r, Verdict(r)
	case f.opts.NoRevocation:
		r := NotChecked("not checked: revocation checking disabled (--no-revocation)")
		return r, Verdict(r)
	case len(chain) == 0:
		r := NotChecked("not checked: no certificate")
		return r, Verdict(r)
	}
	certs := make([]audit.CertRevocation, len(chain))
	anchor := make([]bool, len(chain))
	var wg sync.WaitGroup
	for i, c := range chain {
		var issuer *x509.Certificate
		if i+1 < len(chain) {
			issuer = chain[i+1]
		} else {
			anchor[i] = true
		}
		var st []byte
		if i == 0 {
			st = staple
		}
		wg.Go(func() { certs[i] = f.checkCert(ctx, c, issuer, st, now) })
	}
	wg.Wait()
	r := summarize(certs, anchor)
	return r, Verdict(r)
}

// summarize condenses per-certificate lines: the first revoked certificate
// decides, else the first that could not be checked, else the leaf (an
// intermediate naming no responder is listed in the detail, but does not
// make a leaf checked good "not checked").
func summarize(certs []audit.CertRevocation, anchor []bool) audit.Revocation {
	dec := first(certs, func(i int) bool { return certs[i].Status == StatusRevoked })
	if dec < 0 {
		dec = first(certs, func(i int) bool { return certs[i].Status == StatusOffline || certs[i].Status == StatusUnknown })
	}
	if dec < 0 {
		dec = 0
	}
	d := certs[dec]
	r := audit.Revocation{Method: d.Method, Status: d.Status, RevokedAt: d.RevokedAt, Reason: d.Reason, Certs: certs}
	var lines []string
	for i, c := range certs {
		if !c.NextUpdate.IsZero() && (r.NextUpdate.IsZero() || c.NextUpdate.Before(r.NextUpdate)) {
			r.NextUpdate = c.NextUpdate
		}
		if i == dec || c.Status != StatusGood && !anchor[i] {
			lines = append(lines, line(c))
		}
	}
	r.Detail = strings.Join(lines, "; ")
	return r
}

func first(certs []audit.CertRevocation, ok func(int) bool) int {
	for i := range certs {
		if ok(i) {
			return i
		}
	}
	return -1
}

func line(c audit.CertRevocation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (serial %s): ", c.Subject, c.Serial)
	if c.Status == StatusNotChecked && strings.HasPrefix(c.Detail, StatusNotChecked) {
		b.WriteString(c.Detail)
		return b.String()
	}
	b.WriteString(c.Status)
	if c.Status == StatusRevoked {
		fmt.Fprintf(&b, " on %s", c.RevokedAt.UTC().Format(time.RFC3339))
		if c.Reason != "" {
			fmt.Fprintf(&b, " (%s)", c.Reason)
		}
	}
	if c.Status == StatusGood || c.Status == StatusRevoked {
		fmt.Fprintf(&b, " per %s", methodName(c.Method))
		if c.URL != "" {
			fmt.Fprintf(&b, " %s", c.URL)
		}
	}
	if c.Detail != "" {
		fmt.Fprintf(&b, ": %s", c.Detail)
	}
	return b.String()
}

func methodName(m string) string {
	switch m {
	case MethodStaple:
		return "stapled OCSP"
	case MethodOCSP:
		return "OCSP"
	case MethodCRL:
		return "CRL"
	}
	return m
}

// answer is one trusted revocation answer.
type answer struct {
	status     string // StatusGood, StatusRevoked or StatusUnknown (OCSP "unknown")
	revokedAt  time.Time
	reason     string
	nextUpdate time.Time
}

func (f *Fetcher) checkCert(ctx context.Context, c, issuer *x509.Certificate, staple []byte, now time.Time) audit.CertRevocation {
	cr := audit.CertRevocation{Subject: c.Subject.String(), Serial: audit.SerialHex(c.SerialNumber), Method: MethodNotChecked, Status: StatusNotChecked}
	if issuer == nil {
		if bytes.Equal(c.RawIssuer, c.RawSubject) {
			cr.Detail = "trust anchor"
		} else {
			cr.Detail = "trust anchor (its issuer is not in the chain)"
		}
		return cr
	}
	done := func(method, u string, a answer) audit.CertRevocation {
		cr.Method, cr.URL, cr.Status = method, u, a.status
		cr.RevokedAt, cr.Reason, cr.NextUpdate = a.revokedAt, a.reason, a.nextUpdate
		return cr
	}
	var notes []string
	untrusted := false // an answer came but was not trusted
	if len(staple) > 0 {
		a, err := verifyOCSP(staple, c, issuer, now)
		switch {
		case err != nil:
			untrusted = true
			notes = append(notes, "stapled OCSP response not trusted: "+err.Error())
		case a.status == StatusUnknown:
			notes = append(notes, "stapled OCSP response says unknown")
		default:
			return done(MethodStaple, "", a)
		}
	}
	for _, u := range c.OCSPServer {
		if !IsHTTP(u) {
			notes = append(notes, "not checked: "+u)
			continue
		}
		cr.Method = MethodOCSP
		a, fetchErr, err := f.ocsp(ctx, u, c, issuer, now)
		switch {
		case fetchErr != nil:
			notes = append(notes, "OCSP "+fetchErr.Error())
		case err != nil:
			untrusted = true
			notes = append(notes, fmt.Sprintf("OCSP %s: not trusted: %v", u, err))
		case a.status == StatusUnknown:
			untrusted = true
			notes = append(notes, fmt.Sprintf("OCSP %s says unknown", u))
		default:
			return done(MethodOCSP, u, a)
		}
	}
	for _, u := range c.CRLDistributionPoints {
		if !IsHTTP(u) {
			notes = append(notes, "not checked: "+u)
			continue
		}
		cr.Method = MethodCRL
		a, fetchErr, err := f.crl(ctx, u, c, issuer, now)
		switch {
		case fetchErr != nil:
			notes = append(notes, "CRL "+fetchErr.Error())
		case err != nil:
			untrusted = true
			notes = append(notes, fmt.Sprintf("CRL %s: not trusted: %v", u, err))
		default:
			return done(MethodCRL, u, a)
		}
	}
	switch {
	case cr.Method == MethodNotChecked && len(notes) == 0:
		// Nothing to ask: common in private PKIs. Not "offline" (no responder
		// failed), so no verdict; the detail says what Windows would report.
		cr.Detail = "names no OCSP responder or CRL distribution point (Windows reports RevocationStatusUnknown)"
		return cr
	case cr.Method == MethodNotChecked && !untrusted:
		// Only non-HTTP (LDAP) URLs: Windows would try them; we cannot say.
		cr.Detail = strings.Join(notes, "; ")
		return cr
	case untrusted:
		cr.Status = StatusUnknown
	default:
		cr.Status = StatusOffline
	}
	cr.Detail = strings.Join(notes, "; ")
	return cr
}

// ocsp asks the responder at u about c; fetchErr is set when no answer came,
// err when the answer is not trusted.
func (f *Fetcher) ocsp(ctx context.Context, u string, c, issuer *x509.Certificate, now time.Time) (a answer, fetchErr, err error) {
	req, err := ocsp.CreateRequest(c, issuer, nil)
	if err != nil {
		return a, nil, fmt.Errorf("OCSP request: %w", err)
	}
	// RFC 6960 appendix A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}.
	get := strings.TrimSuffix(u, "/") + "/" + url.PathEscape(base64.StdEncoding.EncodeToString(req))
	body, fetchErr := f.Get(ctx, get, f.opts.MaxOCSPBytes)
	if fetchErr != nil {
		return a, shortFetchErr(u, fetchErr), nil
	}
	a, err = verifyOCSP(body, c, issuer, now)
	return a, nil, err
}

// shortFetchErr names the responder URL instead of the long OCSP GET URL.
func shortFetchErr(u string, err error) error {
	var fe *FetchError
	if errors.As(err, &fe) {
		return &FetchError{URL: u, Err: fe.Err}
	}
	return fmt.Errorf("%s: %w", u, err)
}

// verifyOCSP parses an OCSP response about c and checks that issuer, or a
// responder it delegated to, signed it, and that it is current at now.
func verifyOCSP(der []byte, c, issuer *x509.Certificate, now time.Time) (answer, error) {
	// Parsed without issuer: x/crypto would reject a response that embeds the
	// issuer itself, and checks no EKU or validity on a delegated responder.
	r, err := ocsp.ParseResponseForCert(der, c, nil)
	if err != nil {
		return answer{}, err
	}
	if r.Certificate == nil || r.Certificate.Equal(issuer) {
		if err := r.CheckSignatureFrom(issuer); err != nil {
			return answer{}, fmt.Errorf("not signed by the issuer %s: %w", issuer.Subject, err)
		}
	} else {
		rc := r.Certificate
		if err := rc.CheckSignatureFrom(issuer); err != nil {
			return answer{}, fmt.Errorf("responder certificate %s not issued by %s: %w", rc.Subject, issuer.Subject, err)
		}
		if !hasOCSPSigning(rc) {
			return answer{}, fmt.Errorf("responder certificate %s lacks the OCSP signing usage", rc.Subject)
		}
		if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
			return answer{}, fmt.Errorf("responder certificate %s not valid at %s", rc.Subject, now.UTC().Format(time.RFC3339))
		}
		if err := r.CheckSignatureFrom(rc); err != nil {
			return answer{}, fmt.Errorf("not signed by the responder %s: %w", rc.Subject, err)
		}
	}
	if err := window(r.ThisUpdate, r.NextUpdate, now, "OCSP response"); err != nil {
		return answer{}, err
	}
	a := answer{nextUpdate: r.NextUpdate}
	switch r.Status {
	case ocsp.Good:
		a.status = StatusGood
	case ocsp.Revoked:
		a.status, a.revokedAt, a.reason = StatusRevoked, r.RevokedAt, ReasonName(r.RevocationReason)
	default:
		a.status = StatusUnknown
	}
	return a, nil
}

func hasOCSPSigning(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			return true
		}
	}
	return false
}

// window checks that an answer issued at this and valid until next (zero: no end) is current at now.
func window(this, next, now time.Time, what string) error {
	if this.After(now.Add(clockSkew)) {
		return fmt.Errorf("%s not valid before %s", what, this.UTC().Format(time.RFC3339))
	}
	if !next.IsZero() && now.After(next) {
		return fmt.Errorf("%s expired %s (next update was due then)", what, next.UTC().Format(time.RFC3339))
	}
	return nil
}

// removeFromCRL is the CRLReason that takes a certificate off hold (delta CRLs).
const removeFromCRL = 8

// crlEntry is one revoked serial of a CRL.
type crlEntry struct {
	at     time.Time
	reason int
}

// parsedCRL is a CRL whose signature and issuer have been verified.
type parsedCRL struct {
	this, next time.Time
	revoked    map[string]crlEntry // by serial, decimal
}

// crl looks c up in the CRL at u; fetchErr is set when no CRL came, err when
// the CRL is not trusted. The parsed CRL is cached per URL and issuer.
func (f *Fetcher) crl(ctx context.Context, u string, c, issuer *x509.Certificate, now time.Time) (a answer, fetchErr, err error) {
	body, fetchErr := f.Get(ctx, u, f.opts.MaxCRLBytes)
	if fetchErr != nil {
		return a, fetchErr, nil
	}
	key := fmt.Sprintf("CRL %s issuer %x", u, sha256.Sum256(issuer.Raw))
	v, err := f.once(ctx, key, func() (any, error) { return parseCRL(body, issuer) })
	if err != nil {
		return a, nil, err
	}
	p := v.(*parsedCRL)
	if err := window(p.this, p.next, now, "CRL"); err != nil {
		return a, nil, err
	}
	a = answer{status: StatusGood, nextUpdate: p.next}
	if e, ok := p.revoked[c.SerialNumber.String()]; ok && e.reason != removeFromCRL {
		a.status, a.revokedAt, a.reason = StatusRevoked, e.at, ReasonName(e.reason)
	}
	return a, nil, nil
}

func parseCRL(body []byte, issuer *x509.Certificate) (*parsedCRL, error) {
	if blk, _ := pem.Decode(body); blk != nil && blk.Type == "X509 CRL" {
		body = blk.Bytes
	}
	l, err := x509.ParseRevocationList(body)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(l.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("issued by %s, not by %s", l.Issuer, issuer.Subject)
	}
	if err := l.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("signature not from %s: %w", issuer.Subject, err)
	}
	p := &parsedCRL{this: l.ThisUpdate, next: l.NextUpdate, revoked: make(map[string]crlEntry, len(l.RevokedCertificateEntries))}
	for _, e := range l.RevokedCertificateEntries {
		p.revoked[e.SerialNumber.String()] = crlEntry{at: e.RevocationTime, reason: e.ReasonCode}
	}
	return p, nil
}

// ReasonName names an RFC 5280 CRLReason code.
func ReasonName(code int) string {
	switch code {
	case 0:
		return "unspecified"
	case 1:
		return "keyCompromise"
	case 2:
		return "cACompromise"
	case 3:
		return "affiliationChanged"
	case 4:
		return "superseded"
	case 5:
		return "cessationOfOperation"
	case 6:
		return "certificateHold"
	case 8:
		return "removeFromCRL"
	case 9:
		return "privilegeWithdrawn"
	case 10:
		return "aACompromise"
	}
	return fmt.Sprintf("reason %d", code)
}
