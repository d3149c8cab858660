package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/mxaudit/mxaudit/audit"
)

// Fetcher fetches MTA-STS policies as a sending MTA does (RFC 8461 section
// 3.3): HTTPS to mta-sts.DOMAIN, the certificate validated against public
// roots only, no redirects, text/plain, at most MaxPolicySize bytes.
type Fetcher struct {
	// Roots are the WebPKI roots; nil means the system roots. Never add
	// private roots: no MTA-STS sender trusts them (tests inject their own CA).
	Roots *x509.CertPool
	// Dial connects to addr ("mta-sts.example.com:443"); nil means a
	// net.Dialer. Tests point it at a server on 127.0.0.x.
	Dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	Timeout time.Duration // for the whole fetch; default 30s
	Now     time.Time     // the clock for certificate validity; zero means time.Now
}

// DefaultTimeout bounds a fetch when Fetcher.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// FetchError is a failed fetch, with the verdict that names it:
// StsPolicyFetchError, StsWebPkiInvalid or StsPolicyInvalid.
type FetchError struct {
	Verdict audit.Verdict
	URL     string
	Err     error
}

func (e *FetchError) Error() string { return e.URL + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FetchError) Unwrap() error { return e.Err }

// Fetched is a fetched and parsed policy.
type Fetched struct {
	URL    string
	Policy *Policy
	Chain  []*x509.Certificate // the policy host's certificate chain, leaf first
}

// Fetch fetches and parses domain's policy. Every failure is a *FetchError.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (*Fetched, error) {
	url := PolicyURL(domain)
	fail := func(v audit.Verdict, err error) (*Fetched, error) {
		return nil, &FetchError{Verdict: v, URL: url, Err: err}
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dial := f.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: timeout}).DialContext
	}
	// Classic key exchanges only: a policy is public, and a post-quantum
	// key share costs more CPU than the fetch itself (1,000 domains a run).
	tlsConf := &tls.Config{RootCAs: f.Roots, MinVersion: tls.VersionTLS12, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384}}
	if !f.Now.IsZero() {
		now := f.Now
		tlsConf.Time = func() time.Time { return now }
	}
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:            dial,
			TLSClientConfig:        tlsConf,
			TLSHandshakeTimeout:    timeout,
			ResponseHeaderTimeout:  timeout,
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
			Proxy:                  nil, // a sender connects directly
		},
		// RFC 8461 section 3.3: "HTTP 3xx redirects MUST NOT be followed".
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(audit.StsPolicyFetchError, err)
	}
	req.Header.Set("User-Agent", "mxaudit")
	resp, err := client.Do(req)
	if err != nil {
		if webPKIError(err) {
			return fail(audit.StsWebPkiInvalid, err)
		}
		return fail(audit.StsPolicyFetchError, err)
	}
	defer resp.Body.Close()
	out := &Fetched{URL: url}
	if resp.TLS != nil {
		out.Chain = resp.TLS.PeerCertificates
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail(audit.StsPolicyFetchError, fmt.Errorf("HTTP %d redirect to %q, which senders do not follow", resp.StatusCode, resp.Header.Get("Location")))
	case resp.StatusCode != http.StatusOK:
		return fail(audit.StsPolicyFetchError, fmt.Errorf("HTTP %s", resp.Status))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err == nil {
		err = ctx.Err() // a body cut off by the deadline may read as a short one
	}
	if err != nil {
		return fail(audit.StsPolicyFetchError, fmt.Errorf("reading the policy: %w", err))
	}
	if len(body) > MaxPolicySize {
		return fail(audit.StsPolicyFetchError, fmt.Errorf("the policy is larger than %d bytes, the most senders read", MaxPolicySize))
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return fail(audit.StsPolicyInvalid, fmt.Errorf("Content-Type %q, senders require text/plain", ct))
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return fail(audit.StsPolicyInvalid, err)
	}
	out.Policy = p
	return out, nil
}

// webPKIError reports whether err is a certificate validation failure.
func webPKIError(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
