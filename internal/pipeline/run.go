// Package run audits a whole inventory: it probes every distinct target
// concurrently (a bounded worker pool, a cap per IP address, an optional
// rate), verifies each partner's chain and returns the results in
// inventory order.
package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/verify"
)

// Resolver looks up a host's addresses; *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Options controls a run.
type Options struct {
	Concurrency int     // probes at once; default 100
	PerHost     int     // probes at once to one IP address; default 2
	Rate        float64 // new probes per second at most; 0 means no limit
	Probe       probe.Options
	Resolver    Resolver // default net.DefaultResolver
	Roots       *x509.CertPool
	// Source names where a trust anchor came from; see verify.Options.
	Source func(*x509.Certificate) (source, file string)
	// PrivateRoots are the imported roots whose lifecycle the results report.
	PrivateRoots []audit.PrivateRoot
	Now          time.Time // the run's clock; default time.Now()
	// Thresholds grade the run (verify's WeakKey, the roots' status) and
	// are recorded in the results; the zero value means audit.DefaultThresholds().
	Thresholds audit.Thresholds
	Progress   io.Writer // a progress bar goes here when set (a terminal)
	// Inspect, when set, runs after verification for each probed partner
	// (revocation checking hooks in here).
	Inspect func(ctx context.Context, r *audit.Result, chain []*x509.Certificate, path []*x509.Certificate)
}

type job struct {
	target  audit.Target
	members []int // indexes into partners
}

// ProbeAll probes, verifies and inspects partners and returns the results; when ctx ends early the
// results are marked incomplete and unprobed partners get NotProbed.
func ProbeAll(ctx context.Context, partners []audit.Partner, opts Options) *audit.Results {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 100
	}
	if opts.PerHost <= 0 {
		opts.PerHost = 2
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Thresholds == (audit.Thresholds{}) {
		opts.Thresholds = audit.DefaultThresholds()
	}
	th := opts.Thresholds
	res := &audit.Results{
		Thresholds:      &th,
		Schema:          audit.SchemaVersion,
		Started:         opts.Now.UTC(),
		Partners:        make([]audit.Result, len(partners)),
		PrivateRoots:    []audit.PrivateRoot{},
		InventoryErrors: []audit.InventoryError{},
	}

	var jobs []*job
	byTarget := map[audit.Target]*job{}
	for i, p := range partners {
		t := p.Target()
		if j, ok := byTarget[t]; ok {
			j.members = append(j.members, i)
			continue
		}
		j := &job{target: t, members: []int{i}}
		byTarget[t] = j
		jobs = append(jobs, j)
	}

	r := &runner{opts: opts, partners: partners, res: res, hosts: map[string]chan struct{}{}, anchors: anchors(opts.PrivateRoots)}
	r.progress = newProgress(opts.Progress, len(jobs))
	var tick <-chan time.Time
	if opts.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / opts.Rate))
		defer t.Stop()
		tick = t.C
	}
	queue := make(chan *job)
	var wg sync.WaitGroup
	for range min(opts.Concurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				r.do(ctx, j)
			}
		}()
	}
	done := map[*job]bool{}
feed:
	for _, j := range jobs {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break feed
			}
		}
		select {
		case queue <- j:
			done[j] = true
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	r.progress.finish()
	for _, j := range jobs {
		if !done[j] {
			for _, i := range j.members {
				r.notProbed(i)
			}
		}
	}
	for i := range res.Partners {
		if res.Partners[i].Verdict == audit.NotProbed {
			res.Incomplete = true
		}
	}
	res.PrivateRoots = audit.Lifecycle(opts.PrivateRoots, res.Partners, audit.UsedByChain, opts.Now, th)
	res.Finished = time.Now().UTC()
	return res
}

type runner struct {
	opts     Options
	partners []audit.Partner
	res      *audit.Results
	mu       sync.Mutex
	hosts    map[string]chan struct{}
	progress *progress
	anchors  []*x509.Certificate // the private roots, for links x509 refuses (see verify.Options.Anchors)
}

func (r *runner) hostSlot(ip string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.hosts[ip]
	if !ok {
		s = make(chan struct{}, r.opts.PerHost)
		r.hosts[ip] = s
	}
	return s
}

func (r *runner) notProbed(i int) {
	r.res.Partners[i] = audit.Result{
		Partner:  r.partners[i],
		Verdict:  audit.NotProbed,
		Verdicts: []audit.Verdict{audit.NotProbed},
		Remedy:   audit.NotProbed.Remedy(),
		Root:     audit.Root{Source: audit.RootNone},
		Chain:    []audit.Cert{},
		Findings: []audit.Finding{},
		Error:    "not probed: the run was interrupted",
	}
}

func (r *runner) do(ctx context.Context, j *job) {
	defer r.progress.step()
	if ctx.Err() != nil {
		for _, i := range j.members {
			r.notProbed(i)
		}
		return
	}
	start := time.Now()
	addr, err := r.resolve(ctx, j.target)
	var obs *probe.Observation
	if err != nil {
		obs = &probe.Observation{Err: &probe.Error{Phase: "resolve", Verdict: audit.DNSError, Err: err}}
		obs.Duration = time.Since(start)
	} else {
		host, _, _ := net.SplitHostPort(addr)
		slot := r.hostSlot(host)
		select {
		case slot <- struct{}{}:
		case <-ctx.Done():
			for _, i := range j.members {
				r.notProbed(i)
			}
			return
		}
		obs = probe.Probe(ctx, j.target, addr, r.opts.Probe)
		<-slot
	}
	if ctx.Err() != nil {
		for _, i := range j.members {
			r.notProbed(i)
		}
		return
	}
	for n, i := range j.members {
		res := r.result(ctx, r.partners[i], obs)
		if n > 0 {
			res.SharedWith = r.partners[j.members[0]].Name
		}
		r.res.Partners[i] = res
	}
}

func (r *runner) resolve(ctx context.Context, t audit.Target) (string, error) {
	if a := t.DialAddress(); a != "" {
		return a, nil
	}
	timeout := r.opts.Probe.ConnectTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := r.opts.Resolver.LookupHost(lctx, t.Host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", &net.DNSError{Err: "no addresses", Name: t.Host, IsNotFound: true}
	}
	// Prefer IPv4, as most MTAs still do for outbound SMTP.
	best := addrs[0]
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			best = a
			break
		}
	}
	return net.JoinHostPort(best, strconv.Itoa(t.Port)), nil
}

// result turns one observation into the result of partner p.
func (r *runner) result(ctx context.Context, p audit.Partner, obs *probe.Observation) audit.Result {
	res := audit.Result{
		Partner:    p,
		Details:    map[audit.Verdict]string{},
		Root:       audit.Root{Source: audit.RootNone},
		Chain:      make([]audit.Cert, 0, len(obs.Chain)),
		Findings:   []audit.Finding{},
		SMTP:       obs.SMTP,
		OCSPStaple: obs.OCSPStaple,
		DurationMS: obs.Duration.Milliseconds(),
	}
	if obs.TLSVersion != 0 {
		res.TLSVersion = tls.VersionName(obs.TLSVersion)
		res.Cipher = tls.CipherSuiteName(obs.Cipher)
	}
	for _, c := range obs.Chain {
		res.Chain = append(res.Chain, audit.NewCert(c))
	}
	var path []*x509.Certificate
	if len(obs.Chain) > 0 {
		out := r.verify(p, obs.Chain)
		res.Root = out.Root
		path = out.Path
		for _, v := range out.Verdicts {
			if v != audit.Valid {
				res.Verdicts = append(res.Verdicts, v)
				res.Details[v] = out.Details[v]
				if c, ok := out.Cases[v]; ok {
					if res.Cases == nil {
						res.Cases = map[audit.Verdict]audit.Case{}
					}
					res.Cases[v] = c
				}
			}
		}
		if len(obs.Others) > 0 {
			res.Certificates = append(res.Certificates, certAudit(probe.KeyTypeOf(obs.Chain), obs.TLSVersion, obs.Cipher, res.Chain, out))
		}
	}
	// A server holding certificates of several key types is audited on
	// each; the worst decides, and each verdict says which certificate.
	for _, kc := range obs.Others {
		out := r.verify(p, kc.Chain)
		chain := make([]audit.Cert, 0, len(kc.Chain))
		for _, c := range kc.Chain {
			chain = append(chain, audit.NewCert(c))
		}
		ca := certAudit(kc.KeyType, kc.TLSVersion, kc.Cipher, chain, out)
		res.Certificates = append(res.Certificates, ca)
		for _, v := range ca.Verdicts {
			if v == audit.Valid {
				continue
			}
			if !slices.Contains(res.Verdicts, v) {
				res.Verdicts = append(res.Verdicts, v)
				res.Details[v] = kc.KeyType + " certificate: " + ca.Details[v]
			} else if d := res.Details[v]; !strings.Contains(d, kc.KeyType+" certificate") {
				res.Details[v] = d + "; " + kc.KeyType + " certificate too: " + ca.Details[v]
			}
		}
	}
	if obs.Err != nil {
		res.Error = obs.Err.Error()
		v := obs.Err.Verdict
		if !slices.Contains(res.Verdicts, v) {
			res.Verdicts = append(res.Verdicts, v)
		}
		res.Details[v] = obs.Err.Error()
	}
	if r.opts.Inspect != nil && len(obs.Chain) > 0 {
		r.opts.Inspect(ctx, &res, obs.Chain, path)
	}
	finish(&res)
	return res
}

func (r *runner) verify(p audit.Partner, chain []*x509.Certificate) verify.Outcome {
	return verify.Verify(verify.Input{
		Chain: chain, Host: p.Host, Domain: p.Domain, Enforced: p.Enforced,
		ExpectedIssuer: p.ExpectedIssuer, ExpectedSubject: p.ExpectedSubject,
	}, verify.Options{Roots: r.opts.Roots, Source: r.opts.Source, Anchors: r.anchors, Now: r.opts.Now, Thresholds: r.opts.Thresholds})
}

// certAudit is the audit of one key type's chain.
func certAudit(keyType string, version, cipher uint16, chain []audit.Cert, out verify.Outcome) audit.CertAudit {
	ca := audit.CertAudit{KeyType: keyType, Chain: chain, Root: out.Root, Verdicts: out.Verdicts}
	if version != 0 {
		ca.TLSVersion, ca.Cipher = tls.VersionName(version), tls.CipherSuiteName(cipher)
	}
	if len(out.Details) > 0 {
		ca.Details = map[audit.Verdict]string{}
		for _, v := range out.Verdicts {
			if d, ok := out.Details[v]; ok {
				ca.Details[v] = d
			}
		}
	}
	return ca
}

// finish sorts r's verdicts, sets its primary verdict and remedy, and
// marks it Valid when nothing is wrong.
func finish(r *audit.Result) {
	r.Verdicts = slices.DeleteFunc(r.Verdicts, func(v audit.Verdict) bool { return v == audit.Valid })
	if len(r.Verdicts) == 0 {
		r.Verdicts = []audit.Verdict{audit.Valid}
	}
	slices.SortStableFunc(r.Verdicts, func(a, b audit.Verdict) int { return a.Rank() - b.Rank() })
	r.Verdicts = slices.Compact(r.Verdicts)
	r.Verdict = r.Verdicts[0]
	r.Remedy = r.VerdictRemedy(r.Verdict)
	if len(r.Details) == 0 {
		r.Details = nil
	}
}

// progress draws "[=====     ] 120/1000" on a terminal, at most ten times a second.
type progress struct {
	w     io.Writer
	total int
	mu    sync.Mutex
	n     int
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress { return &progress{w: w, total: total} }

func (p *progress) step() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if time.Since(p.last) < 100*time.Millisecond && p.n < p.total {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := width * p.n / max(p.total, 1)
	fmt.Fprintf(p.w, "\r[%-*s] %d/%d targets", width, string(slices.Repeat([]byte{'='}, fill)), p.n, p.total)
}

func (p *progress) finish() {
	if p.w != nil && p.total > 0 {
		fmt.Fprintln(p.w)
	}
}
