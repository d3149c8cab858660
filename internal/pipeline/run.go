// Package pipeline runs an audit: inventory -> discovery (MX hosts and
// addresses of each partner domain, RFC 5321 5.1) -> probes of every
// distinct target, concurrently and politely (a bounded pool, caps per IP
// address and per provider, an optional rate) -> verification ->
// revocation -> checks -> history -> reports, for scan, demo and probe alike.
package pipeline

import (
	"cmp"
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/discovery"
	"github.com/mxaudit/mxaudit/internal/dns"
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
	PerProvider int     // probes at once to the MX hosts of one registered domain (discovery.Provider); default DefaultPerProvider
	Rate        float64 // new probes per second at most; 0 means no limit
	Probe       probe.Options
	// DNS finds the MX hosts of rows without host (RFC 5321 5.1), the
	// addresses of every host, and checks a row's host against its
	// domain's MX (drift). Without it, hosts are resolved by Resolver, rows
	// without host get DNSError and nothing is checked for drift.
	DNS      *dns.Resolver
	Resolver Resolver         // without DNS; default net.DefaultResolver
	MX       discovery.MXMode // which MX hosts of a domain are audited; default all
	IP       discovery.Family // which address families; default both
	FollowMX bool             // a row whose host is not among its domain's MX also audits the MX hosts
	Reach    *discovery.Reach // the families this machine can reach; nil: discovery.Reachable() with DNS, else both
	Roots    *x509.CertPool
	// StoreOf names where a trust anchor came from; see verify.Options.
	StoreOf func(*x509.Certificate) (source, file string)
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
	// Published configures the check of the partners' published policies
	// (DNSSEC, DANE, MTA-STS, TLS-RPT), which runs with DNS.
	Published Published
	// Emit, when set, receives each partner's result (i: its index in
	// inventory order) and its inventory rows as soon as it is complete,
	// one call at a time and in any order, and the run lets go of it:
	// ProbeAll then returns results without partners. Peak memory holds
	// the probes under way, not the results done.
	Emit func(i int, r audit.Result, rows []audit.Partner)
}

// DefaultPerProvider is the default of Options.PerProvider (--per-provider):
// hosted mail (Microsoft 365, Google, Proofpoint, Mimecast) serves hundreds
// of partners from one registered domain, and blocks clients that open
// many connections at once.
const DefaultPerProvider = 10

// job is one probe: a target (MX host, port, address, TLS mode), shared by
// every row of every partner that names it.
type job struct {
	target   audit.Target
	ip       string // the --per-host key
	provider string // the --per-provider key
	mu       sync.Mutex
	members  []member // the row targets this probe answers
	obs      *probe.Observation
	done     bool
	owner    int           // the first partner in inventory order among the members
	recent   *list.Element // in stream.recent while done and kept for rows to come
}

// member is target k of row w.
type member struct {
	w *row
	k int
}

// ProbeAll discovers, probes, verifies and inspects the partners of rows
// (rows of one partner name are one partner with several targets) and
// returns one result per partner, in inventory order; when ctx ends early
// the results are marked incomplete and what was not probed gets NotProbed.
func ProbeAll(ctx context.Context, rows []audit.Partner, opts Options) *audit.Results {
	opts = opts.withDefaults()
	return probeRows(ctx, sliceRows(rows), opts)
}

// probeRows is ProbeAll over the rows of any source.
func probeRows(ctx context.Context, rows Rows, opts Options) *audit.Results {
	opts = opts.withDefaults()
	r := &runner{opts: opts, jobs: map[audit.Target]*job{}, anchors: anchors(opts.PrivateRoots)}
	r.group(rows)
	r.pub = newPublished(opts)
	if opts.Emit != nil {
		r.stream = newStream(r, opts.Emit)
	}
	r.progress = newProgress(opts.Progress, 0)
	r.sched = newScheduler(opts, func(j *job) { r.do(ctx, j) })

	// Discovery feeds the scheduler as it goes: probes start while other
	// domains are still being looked up.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.discoverAll(ctx)
		if r.stream != nil && ctx.Err() == nil {
			r.stream.discovered.Store(true)
			r.dropObservations()
		}
		r.sched.close()
	}()
	left := r.sched.loop(ctx)
	wg.Wait()
	r.pending.Wait()
	r.progress.finish()
	interrupted := ctx.Err() != nil || len(left) > 0
	if r.stream != nil {
		return r.streamed(interrupted)
	}
	return r.results(interrupted)
}

// discoverAll runs the discovery of every row, at most Concurrency at once,
// each row's targets handed to the scheduler as soon as they are found.
func (r *runner) discoverAll(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, r.opts.Concurrency)
	for k := range r.rows {
		w := r.row(k)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.discover(ctx, w)
			if ctx.Err() == nil {
				w.done = true
				if r.stream == nil {
					r.enqueue(ctx, w)
					return
				}
				r.stream.targets(w)
				r.enqueue(ctx, w)
				r.rowFinished(w)
			}
		}()
	}
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.PerHost <= 0 {
		o.PerHost = 2
	}
	if o.PerProvider <= 0 {
		o.PerProvider = DefaultPerProvider
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.MX == "" {
		o.MX = discovery.AllMX
	}
	if o.IP == "" {
		o.IP = discovery.Both
	}
	if o.Reach == nil && o.DNS != nil {
		reach := discovery.Reachable()
		o.Reach = &reach
	}
	if o.Thresholds == (audit.Thresholds{}) {
		o.Thresholds = audit.DefaultThresholds()
	}
	return o
}

type runner struct {
	opts     Options
	input    Rows    // the inventory's rows, never changed
	rows     []*row  // input row k's row, made when its discovery starts (r.row)
	first    []int32 // each partner's first row (one partner per name)
	next     []int32 // the next row of the same name after each row, or -1
	rowOf    []int32 // the partner of each row
	mu       sync.Mutex
	jobs     map[audit.Target]*job
	sched    *scheduler
	progress *progress
	anchors  []*x509.Certificate // the private roots, for links x509 refuses (see verify.Options.Anchors)
	pub      *published          // the published-policies stage; nil when off
	pending  sync.WaitGroup      // targets waiting for their published policies
	stream   *stream             // when results are emitted as they complete (Options.Emit)
}

// Rows is the inventory a run audits, read a row at a time: a slice of
// rows, or a spill file of them (a scan's, so that memory does not hold
// the inventory).
type Rows interface {
	Len() int
	Row(k int) audit.Partner
}

// sliceRows is an inventory held in memory.
type sliceRows []audit.Partner

func (s sliceRows) Len() int                { return len(s) }
func (s sliceRows) Row(k int) audit.Partner { return s[k] }

// group makes one partner of the rows of each name, in order of first
// appearance. Rows are grouped by sorting their indexes by a hash of their
// name (12 bytes a row for the while, names compared only where hashes
// meet), not through a map of every name.
func (r *runner) group(in Rows) {
	n := in.Len()
	r.input, r.rows, r.rowOf, r.next = in, make([]*row, n), make([]int32, n), make([]int32, n)
	type hashed struct {
		h uint64
		k int32
	}
	seed := maphash.MakeSeed()
	keys := make([]hashed, n)
	for k := range keys {
		keys[k] = hashed{maphash.String(seed, in.Row(k).Name), int32(k)}
	}
	slices.SortFunc(keys, func(a, b hashed) int { return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.k, b.k)) })
	first := make([]int32, n) // the first row of each row's name
	for start := 0; start < n; {
		end := start + 1
		for end < n && keys[end].h == keys[start].h {
			end++
		}
		if end == start+1 {
			first[keys[start].k] = keys[start].k
		} else { // one name, or (rarely) names whose hashes meet
			var names []string
			var firsts []int32
			for _, e := range keys[start:end] {
				name := in.Row(int(e.k)).Name
				j := slices.Index(names, name)
				if j < 0 {
					names, firsts = append(names, name), append(firsts, e.k)
					j = len(names) - 1
				}
				first[e.k] = firsts[j]
			}
		}
		start = end
	}
	keys = nil
	var last []int32 // each partner's last row so far
	for k := range n {
		r.next[k] = -1
		if f := int(first[k]); f != k {
			i := r.rowOf[f]
			r.rowOf[k] = i
			r.next[last[i]] = int32(k)
			last[i] = int32(k)
			continue
		}
		r.rowOf[k] = int32(len(r.first))
		r.first = append(r.first, int32(k))
		last = append(last, int32(k))
	}
}

// row returns the row of input row k, made on first use: a row waiting for
// its discovery costs a few bytes, not a row.
func (r *runner) row(k int) *row {
	if r.rows[k] == nil {
		p := r.input.Row(k)
		r.rows[k] = &row{partner: int(r.rowOf[k]), p: &p, idx: k}
	}
	return r.rows[k]
}

// rowsOf returns partner i's rows in inventory order.
func (r *runner) rowsOf(i int) []*row {
	var out []*row
	for k := r.first[i]; k >= 0; k = r.next[k] {
		out = append(out, r.row(int(k)))
	}
	return out
}

// partnerRow is partner i's first row.
func (r *runner) partnerRow(i int) audit.Partner {
	k := int(r.first[i])
	if w := r.rows[k]; w != nil {
		return *w.p
	}
	return r.input.Row(k)
}

// enqueue hands the row's targets to their probes: a probe already asked
// for (by this or another partner) is shared, and a probe already done
// answers at once.
func (r *runner) enqueue(ctx context.Context, w *row) {
	w.jobs = make([]*job, len(w.cands))
	for k, c := range w.cands {
		m := member{w: w, k: k}
		r.mu.Lock()
		j, ok := r.jobs[c.t]
		if !ok {
			ip := c.t.Address
			if h, _, err := net.SplitHostPort(ip); err == nil {
				ip = h
			}
			j = &job{target: c.t, ip: ip, provider: c.provider, owner: w.partner}
			r.jobs[c.t] = j
		}
		if ok && r.stream != nil {
			r.stream.touch(j)
		}
		r.mu.Unlock()
		w.jobs[k] = j
		j.mu.Lock()
		if !j.done || r.stream == nil {
			j.members = append(j.members, m)
		}
		j.owner = min(j.owner, w.partner)
		obs, done := j.obs, j.done
		j.mu.Unlock()
		switch {
		case done:
			r.answer(ctx, m, obs)
		case !ok:
			r.progress.grow()
			if !r.sched.add(j) {
				return // interrupted: what is left is not probed
			}
		}
	}
}

// do runs one probe and answers every row target waiting for it.
func (r *runner) do(ctx context.Context, j *job) {
	defer r.progress.step()
	if ctx.Err() != nil {
		return
	}
	obs := probe.Probe(ctx, j.target, j.target.DialAddress(), r.opts.Probe)
	if ctx.Err() != nil {
		return // cut short: not probed
	}
	j.mu.Lock()
	j.obs, j.done = obs, true
	ms := slices.Clone(j.members)
	if r.stream != nil {
		j.members = nil // a row joining now is answered at once
	}
	j.mu.Unlock()
	for _, m := range ms {
		r.answer(ctx, m, obs)
	}
	if r.stream != nil {
		if r.stream.discovered.Load() {
			r.forget(j) // no row can join this probe any more
		} else {
			r.keepDone(j)
		}
	}
}

// forget lets go of a done probe no row can join any more.
func (r *runner) forget(j *job) {
	r.mu.Lock()
	delete(r.jobs, j.target)
	if j.recent != nil {
		r.stream.recent.Remove(j.recent)
		j.recent = nil
	}
	r.mu.Unlock()
	j.mu.Lock()
	j.obs, j.members = nil, nil
	j.mu.Unlock()
}

// dropObservations lets go, once every row is discovered, of the probes
// done: no row can join them any more.
func (r *runner) dropObservations() {
	r.mu.Lock()
	var done []*job
	for _, j := range r.jobs {
		j.mu.Lock()
		if j.done {
			done = append(done, j)
		}
		j.mu.Unlock()
	}
	r.mu.Unlock()
	for _, j := range done {
		r.forget(j)
	}
}

// shareProbes names, on every target that shares a probe with another
// partner's, the partner first in the inventory among them (the one the
// probe is told under).
func (r *runner) shareProbes() {
	for _, j := range r.jobs {
		owner := -1
		for _, m := range j.members {
			if owner < 0 || m.w.partner < owner {
				owner = m.w.partner
			}
		}
		for _, m := range j.members {
			if t := &m.w.targets[m.k]; m.w.partner != owner && t.Verdict != "" {
				t.SharedWith = r.partnerRow(owner).Name
			}
		}
	}
}

// answer fills target m of a row from the observation of its probe.
func (r *runner) answer(ctx context.Context, m member, obs *probe.Observation) {
	w, c := m.w, m.w.cands[m.k]
	p := *w.p
	p.Host, p.Port, p.Address, p.TLS = c.t.Host, c.t.Port, c.t.Address, c.t.TLS
	res := r.result(ctx, p, obs)
	if r.pub == nil {
		r.store(m, c, res)
		return
	}
	// The published policies may still be on their way (an MTA-STS fetch):
	// wait for them without holding the probe's place in the scheduler.
	r.pending.Add(1)
	go func() {
		defer r.pending.Done()
		r.pub.apply(ctx, &res, p.Domain, c, obs)
		finish(&res)
		r.store(m, c, res)
	}()
}

// store keeps res as target m's result, and its findings as the partner's.
func (r *runner) store(m member, c candidate, res audit.Result) {
	w := m.w
	t := audit.NewTarget(&res)
	t.Line, t.Preference, t.Found, t.DNSSEC = w.p.Line, c.pref, c.found, c.dnssec
	t.Family = audit.FamilyOf(c.t.Address)
	w.targets[m.k] = t
	// Findings a probe's inspection made belong to the partner (the
	// checks read its top level); the AIA completion stays the target's.
	if len(res.Findings) > 0 {
		r.mu.Lock()
		for _, f := range res.Findings {
			if !slices.Contains(w.findings, f) {
				w.findings = append(w.findings, f)
			}
		}
		r.mu.Unlock()
	}
	if r.stream != nil {
		r.answered(w.partner)
	}
}

// result turns one observation into the result of partner p.
func (r *runner) result(ctx context.Context, p audit.Partner, obs *probe.Observation) audit.Result {
	res := audit.Result{
		Partner:    p,
		Details:    map[audit.Verdict]string{},
		Root:       audit.Root{Store: audit.RootNone},
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
	}, verify.Options{Roots: r.opts.Roots, StoreOf: r.opts.StoreOf, Anchors: r.anchors, Now: r.opts.Now, Thresholds: r.opts.Thresholds})
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
	r.SetReporting()
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

// grow adds a target to the total as discovery finds it.
func (p *progress) grow() {
	p.mu.Lock()
	p.total++
	p.mu.Unlock()
}

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
