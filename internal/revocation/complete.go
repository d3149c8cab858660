package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/smallstep/pkcs7"

	"github.com/mxaudit/mxaudit/audit"
)

// MaxAIADepth is how many issuers Complete fetches at most for one chain.
const MaxAIADepth = 4

// ErrNoAIA means the last certificate of a chain names no HTTP caIssuers URL.
var ErrNoAIA = errors.New("no AIA caIssuers URL")

// ErrSelfSignedEnd means the chain ends in a self-signed certificate that is
// not among the roots: an untrusted root, which fetching cannot fix.
var ErrSelfSignedEnd = errors.New("chain ends in a self-signed certificate that is not trusted")

// Completion is the outcome of completing a chain from AIA caIssuers URLs.
type Completion struct {
	Chain   []*x509.Certificate // the presented chain followed by the fetched issuers
	Fetched []*x509.Certificate // the issuers fetched, in chain order
	URLs    []string            // the caIssuers URLs fetched, in order
	Missing string              // the issuer name of the presented chain's last certificate
	Built   bool                // the chain now reaches a root: Windows would build it
	Err     error               // why the chain was not completed, when Built is false
}

// Complete fetches the issuers the server did not send from the AIA
// caIssuers URLs (DER, PEM or certs-only PKCS#7), one after another up to
// MaxAIADepth, until the chain reaches one of roots (nil: the system roots).
//
// Each fetched certificate must be named by, and have signed, the
// certificate before it. Built only says the chain reaches a root: validity
// dates, names and usages remain the verify stage's business.
func (f *Fetcher) Complete(ctx context.Context, presented []*x509.Certificate, roots *x509.CertPool) Completion {
	c := Completion{Chain: append([]*x509.Certificate(nil), presented...)}
	if len(presented) == 0 {
		c.Err = errors.New("no certificate")
		return c
	}
	c.Missing = presented[len(presented)-1].Issuer.String()
	var spare []*x509.Certificate // further certificates of fetched bundles
	for {
		last := c.Chain[len(c.Chain)-1]
		switch {
		case anchored(last, roots):
			c.Built = true
			return c
		case bytes.Equal(last.RawIssuer, last.RawSubject) && last.CheckSignature(last.SignatureAlgorithm, last.RawTBSCertificate, last.Signature) == nil:
			c.Err = ErrSelfSignedEnd
			return c
		case len(c.Fetched) == MaxAIADepth:
			c.Err = fmt.Errorf("no trusted root reached after %d AIA fetches", MaxAIADepth)
			return c
		}
		iss := issuerOf(last, spare)
		if iss == nil {
			var err error
			if iss, err = f.fetchIssuer(ctx, last, &c, &spare); err != nil {
				c.Err = err
				return c
			}
		}
		c.Chain, c.Fetched = append(c.Chain, iss), append(c.Fetched, iss)
	}
}

// fetchIssuer tries last's caIssuers URLs in order and returns the first issuer found.
func (f *Fetcher) fetchIssuer(ctx context.Context, last *x509.Certificate, c *Completion, spare *[]*x509.Certificate) (*x509.Certificate, error) {
	var errs []error
	for _, u := range last.IssuingCertificateURL {
		if !IsHTTP(u) {
			errs = append(errs, fmt.Errorf("not fetched: %s", u))
			continue
		}
		c.URLs = append(c.URLs, u)
		body, err := f.Get(ctx, u, f.opts.MaxCertBytes)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		certs, err := parseCerts(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("caIssuers %s: %w", u, err))
			continue
		}
		iss := issuerOf(last, certs)
		if iss == nil {
			errs = append(errs, fmt.Errorf("caIssuers %s: no certificate there issued %s", u, last.Subject))
			continue
		}
		*spare = append(*spare, certs...)
		return iss, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s: %w", last.Subject, ErrNoAIA)
	}
	if len(errs) == 1 && len(c.URLs) == 0 {
		errs = append(errs, ErrNoAIA)
	}
	return nil, errors.Join(errs...)
}

// anchored reports whether c chains directly to one of roots (or is one),
// regardless of dates and usages.
func anchored(c *x509.Certificate, roots *x509.CertPool) bool {
	// Verify checks the leaf's dates before building a chain: verify at a
	// moment inside c's validity so that only the chain is judged.
	t := c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) / 2)
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var ua x509.UnknownAuthorityError
	return err == nil || !errors.As(err, &ua)
}

// issuerOf returns the certificate of cands that is named as c's issuer and signed it.
func issuerOf(c *x509.Certificate, cands []*x509.Certificate) *x509.Certificate {
	for _, k := range cands {
		if bytes.Equal(k.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(k) == nil {
			return k
		}
	}
	return nil
}

// parseCerts reads certificates served at a caIssuers URL: DER, PEM, or
// certs-only PKCS#7 in DER or PEM.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("-----BEGIN")) {
		var out []*x509.Certificate
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			certs, err := parseCerts(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM %s: %w", blk.Type, err)
			}
			out = append(out, certs...)
		}
		if len(out) == 0 {
			return nil, errors.New("no certificate in PEM")
		}
		return out, nil
	}
	if c, err := x509.ParseCertificate(b); err == nil {
		return []*x509.Certificate{c}, nil
	}
	p7, err := pkcs7.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("neither a certificate nor PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("PKCS#7 without certificates")
	}
	return p7.Certificates, nil
}

// Facts returns what the result records of c (audit.Completion), for the
// aia check to word: the certificate the server sent last and its missing
// issuer, whether the chain was built, what was fetched from where, and why
// not, in words.
func (c Completion) Facts() *audit.Completion {
	f := &audit.Completion{Missing: c.Missing, Built: c.Built, URLs: c.URLs}
	if sent := len(c.Chain) - len(c.Fetched); sent > 0 {
		f.LastSent = c.Chain[sent-1].Subject.String()
	}
	for _, x := range c.Fetched {
		f.Fetched = append(f.Fetched, x.Subject.String())
	}
	switch {
	case c.Built:
	case errors.Is(c.Err, ErrOffline):
		f.Offline = true
	default:
		f.Reason = aiaReason(c.Err)
	}
	return f
}

// aiaReason says in words why the chain could not be completed.
func aiaReason(err error) string {
	switch {
	case err == nil:
		return "no reason given"
	case errors.Is(err, ErrNoAIA):
		return "the certificate names no AIA caIssuers URL"
	case errors.Is(err, ErrSelfSignedEnd):
		return "the chain ends in a self-signed certificate that is not trusted"
	}
	var parts []string
	for _, e := range leaves(err) {
		var fe *FetchError
		if errors.As(e, &fe) {
			parts = append(parts, fmt.Sprintf("%s could not be fetched (%s)", fe.URL, fetchCause(fe.Err)))
			continue
		}
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// leaves splits errors.Join'ed errors.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// fetchCause names why a fetch failed in an admin's words.
func fetchCause(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time"
	case errors.As(err, &dnsErr):
		return "its host name does not resolve"
	case errors.Is(err, ErrTooLarge):
		return "the answer is larger than allowed"
	case errors.Is(err, ErrScheme):
		return "not an http URL"
	case err != nil && strings.HasPrefix(err.Error(), "HTTP "):
		return err.Error()
	}
	return "the connection failed"
}

func names(cs []*x509.Certificate) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.Subject.String()
	}
	return strings.Join(s, ", then ")
}
