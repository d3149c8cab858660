// Package revocation checks a verified chain for revocation (stapled OCSP,
// OCSP, CRL) and completes a chain whose intermediate the server did not send
// from the AIA caIssuers URL, as Windows does for Exchange.
//
// Both go through one Fetcher: a per-run cache that fetches every URL at most
// once however many partners name it, bounds each fetch by a timeout and a
// size cap, and fetches nothing when offline.
package revocation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultTimeout = 10 * time.Second // per fetch (--revocation-timeout)
	MaxCRLBytes    = 10 << 20         // a CRL larger than this is not read
	MaxOCSPBytes   = 64 << 10         // an OCSP response larger than this is not read
	MaxCertBytes   = 64 << 10         // an AIA caIssuers answer larger than this is not read
)

// ErrOffline is returned for every fetch when the Fetcher is offline.
var ErrOffline = errors.New("not fetched: offline")

// ErrTooLarge is returned when a response exceeds its size cap.
var ErrTooLarge = errors.New("response exceeds the size cap")

// ErrScheme is returned for URLs that are neither http nor https (ldap:// among them).
var ErrScheme = errors.New("unsupported URL scheme")

// FetchError is a failed fetch of one URL.
type FetchError struct {
	URL string
	Err error
}

func (e *FetchError) Error() string { return fmt.Sprintf("fetch %s: %v", e.URL, e.Err) }

// Unwrap returns the underlying error.
func (e *FetchError) Unwrap() error { return e.Err }

// Options configure a Fetcher.
type Options struct {
	Timeout      time.Duration // per fetch; 0 means DefaultTimeout
	Offline      bool          // fetch nothing: revocation is "not checked", chains are not completed (--offline)
	NoRevocation bool          // Check reports "not checked" without fetching; Complete still fetches (--no-revocation)
	Client       *http.Client  // nil means a client on a clone of http.DefaultTransport (honours proxy variables)
	MaxCRLBytes  int64         // 0 means MaxCRLBytes
	MaxOCSPBytes int64         // 0 means MaxOCSPBytes
	MaxCertBytes int64         // 0 means MaxCertBytes
}

// Fetcher fetches CRLs, OCSP responses and AIA certificates, each URL once per run.
//
// It is safe for concurrent use: callers asking for a URL that is being
// fetched wait for that fetch instead of starting their own. Failures are
// cached too, so a dead responder costs one timeout per run, not one per partner.
type Fetcher struct {
	opts   Options
	client *http.Client

	mu      sync.Mutex
	flights map[string]*flight
	counts  map[string]int
}

type flight struct {
	done chan struct{}
	val  any
	err  error
}

// NewFetcher returns a Fetcher with o's settings.
func NewFetcher(o Options) *Fetcher {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxCRLBytes <= 0 {
		o.MaxCRLBytes = MaxCRLBytes
	}
	if o.MaxOCSPBytes <= 0 {
		o.MaxOCSPBytes = MaxOCSPBytes
	}
	if o.MaxCertBytes <= 0 {
		o.MaxCertBytes = MaxCertBytes
	}
	c := o.Client
	if c == nil {
		c = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Fetcher{opts: o, client: c, flights: map[string]*flight{}, counts: map[string]int{}}
}

// Options returns the Fetcher's settings, defaults filled in.
func (f *Fetcher) Options() Options { return f.opts }

// Fetches returns how many HTTP requests were sent for url.
func (f *Fetcher) Fetches(url string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[url]
}

// TotalFetches returns how many HTTP requests were sent in all.
func (f *Fetcher) TotalFetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.counts {
		n += c
	}
	return n
}

// Get returns the body of url, fetched at most once per Fetcher, read up to limit bytes.
//
// The first caller's limit applies to everyone asking for the same URL. The
// fetch itself runs under the Fetcher's timeout, not under ctx: a caller whose
// ctx ends stops waiting, while the fetch completes for the others.
func (f *Fetcher) Get(ctx context.Context, url string, limit int64) ([]byte, error) {
	v, err := f.once(ctx, "GET "+url, func() (any, error) { return f.fetch(url, limit) })
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// once runs fn once per key and shares its result with every caller of that key.
func (f *Fetcher) once(ctx context.Context, key string, fn func() (any, error)) (any, error) {
	if f.opts.Offline {
		return nil, ErrOffline
	}
	f.mu.Lock()
	fl, ok := f.flights[key]
	if !ok {
		fl = &flight{done: make(chan struct{})}
		f.flights[key] = fl
		go func() {
			defer close(fl.done)
			fl.val, fl.err = fn()
		}()
	}
	f.mu.Unlock()
	select {
	case <-fl.done:
		return fl.val, fl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *Fetcher) fetch(url string, limit int64) ([]byte, error) {
	if !IsHTTP(url) {
		return nil, &FetchError{URL: url, Err: ErrScheme}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	req.Header.Set("User-Agent", "mxaudit")
	f.mu.Lock()
	f.counts[url]++
	f.mu.Unlock()
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, &FetchError{URL: url, Err: timeoutErr(ctx, err, f.opts.Timeout)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &FetchError{URL: url, Err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	if resp.ContentLength > limit {
		return nil, &FetchError{URL: url, Err: fmt.Errorf("%w: %d bytes announced, cap %d", ErrTooLarge, resp.ContentLength, limit)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, &FetchError{URL: url, Err: timeoutErr(ctx, err, f.opts.Timeout)}
	}
	if int64(len(b)) > limit {
		return nil, &FetchError{URL: url, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)}
	}
	return b, nil
}

// timeoutErr names a deadline hit in words an admin reads, and drops the
// *url.Error wrapper that would repeat the (long, for OCSP) URL.
func timeoutErr(ctx context.Context, err error, d time.Duration) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("no answer within %v: %w", d, context.DeadlineExceeded)
	}
	var ue *neturl.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// IsHTTP reports whether u is an http or https URL, the only ones fetched.
func IsHTTP(u string) bool {
	l := strings.ToLower(u)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}
