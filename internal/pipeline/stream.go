package pipeline

import (
	"container/list"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/spill"
)

// stream hands each partner's result to Options.Emit as soon as it is
// complete (every row discovered, every target answered, and every row of
// the partners before it in the inventory discovered, so that the partner
// a shared probe is told under is known), then lets go of its targets: a
// run's memory holds the probes under way, not the results done.
type stream struct {
	emit    func(i int, r audit.Result, rows []audit.Partner)
	mu      sync.Mutex
	left    []int32 // per partner: rows not yet discovered + targets not yet answered
	lastRow []int32 // per partner: the last row of it and of every partner before it
	rowDone []bool
	mark    int // rows [0, mark) are discovered
	ready   int // partners [0, ready) may be emitted once their left is 0
	emitted []bool
	emitMu  sync.Mutex // Emit is called by one goroutine at a time

	discovered atomic.Bool // every row discovered: no probe gets a new member
	untested   map[string]int
	roots      []rootUser // the partners that name a private root or whose chain ends in one
	recent     list.List  // done probes kept for rows still to be discovered, most recently used first (guarded by runner.mu)
}

// keepDoneProbes is how many done probes a streamed run keeps for rows
// still to be discovered (a provider MX shared by many partners stays, as
// each partner naming it uses it again); a row naming a probe let go
// earlier gets a probe of its own. A probe kept costs about 3 KB.
const keepDoneProbes = 1 << 13

// keepDone keeps done probe j for rows to come, letting go of the least
// recently used beyond keepDoneProbes.
func (r *runner) keepDone(j *job) {
	st := r.stream
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.jobs[j.target] != j {
		return
	}
	j.recent = st.recent.PushFront(j)
	for st.recent.Len() > keepDoneProbes {
		old := st.recent.Remove(st.recent.Back()).(*job)
		old.recent = nil
		delete(r.jobs, old.target) // rows answered by it may still hold it: its observation stays theirs
	}
}

// touch marks done probe j used again (r.mu held).
func (st *stream) touch(j *job) {
	if j.recent != nil {
		st.recent.MoveToFront(j.recent)
	}
}

// rootUser is what the roots' lifecycle reads of a partner that names a
// private root or whose chain ends in one: its name, the file it names and
// the anchors of its chains.
type rootUser struct {
	i     int
	name  string
	file  string
	roots []audit.Root
}

func newStream(r *runner, emit func(int, audit.Result, []audit.Partner)) *stream {
	n := len(r.first)
	st := &stream{emit: emit, left: make([]int32, n), lastRow: make([]int32, n), rowDone: make([]bool, len(r.rows)),
		emitted: make([]bool, n), untested: map[string]int{}}
	for k, i := range r.rowOf {
		st.left[i]++
		st.lastRow[i] = int32(k)
	}
	for i := 1; i < n; i++ {
		st.lastRow[i] = max(st.lastRow[i], st.lastRow[i-1])
	}
	return st
}

// targets counts row w's targets before any of them can be answered.
func (st *stream) targets(w *row) {
	st.mu.Lock()
	st.left[w.partner] += int32(len(w.cands))
	st.mu.Unlock()
}

// rowFinished says row w is discovered and its targets handed to their
// probes; it emits the partners this completes.
func (r *runner) rowFinished(w *row) {
	st := r.stream
	st.mu.Lock()
	st.left[w.partner]--
	st.rowDone[w.idx] = true
	for st.mark < len(st.rowDone) && st.rowDone[st.mark] {
		st.mark++
	}
	var due []int
	for st.ready < len(st.lastRow) && int(st.lastRow[st.ready]) < st.mark {
		if st.left[st.ready] == 0 {
			due = append(due, st.ready)
		}
		st.ready++
	}
	st.mu.Unlock()
	r.emit(due...)
}

// answered says one target of partner i is answered; it emits the partner
// when that was its last.
func (r *runner) answered(i int) {
	st := r.stream
	st.mu.Lock()
	st.left[i]--
	due := st.left[i] == 0 && i < st.ready
	st.mu.Unlock()
	if due {
		r.emit(i)
	}
}

// emit assembles, hands on and lets go of the partners given (each once).
func (r *runner) emit(partners ...int) {
	if len(partners) == 0 {
		return
	}
	st := r.stream
	st.emitMu.Lock()
	defer st.emitMu.Unlock()
	for _, i := range partners {
		if st.emitted[i] {
			continue
		}
		st.emitted[i] = true
		r.sharedWith(i)
		res := r.partner(i)
		ws := r.rowsOf(i)
		rows := make([]audit.Partner, len(ws))
		for n, w := range ws {
			rows[n] = *w.p
		}
		for _, w := range ws {
			for f, n := range w.untested {
				st.untested[f] += n
			}
			w.cands, w.targets, w.jobs, w.findings, w.notTested, w.untested = nil, nil, nil, nil, nil, nil
			r.rows[w.idx] = nil
		}
		st.keepRootUser(i, &res)
		st.emit(i, res, rows)
	}
}

// sharedWith names, on partner i's targets whose probe another partner
// shares, the partner first in the inventory among them (what
// shareProbes does for a run held in memory).
func (r *runner) sharedWith(i int) {
	for _, w := range r.rowsOf(i) {
		for k, j := range w.jobs {
			if j == nil || k >= len(w.targets) {
				continue
			}
			j.mu.Lock()
			owner := j.owner
			j.mu.Unlock()
			if t := &w.targets[k]; owner != i && t.Verdict != "" {
				t.SharedWith = r.partnerRow(owner).Name
			}
		}
	}
}

// streamed finishes a streamed run: the partners not emitted yet (the run
// was interrupted) are emitted now, in order; the results hold no partner.
func (r *runner) streamed(interrupted bool) *audit.Results {
	st := r.stream
	var rest []int
	for i := range r.first {
		if st.emitted[i] {
			continue
		}
		rest = append(rest, i)
		for _, w := range r.rowsOf(i) {
			if !w.done {
				interrupted = true
			}
		}
	}
	r.emit(rest...)
	th := r.opts.Thresholds
	res := &audit.Results{Thresholds: &th, Schema: audit.SchemaVersion, Started: r.opts.Now.UTC(),
		PrivateRoots: []audit.PrivateRoot{}, InventoryErrors: []audit.InventoryError{}, Incomplete: interrupted}
	res.Notes = r.notes(st.untested)
	// The roots graded over stand-ins of the partners that use them, in
	// inventory order.
	slices.SortFunc(st.roots, func(a, b rootUser) int { return a.i - b.i })
	users := make([]audit.Result, 0, len(st.roots))
	for _, u := range st.roots {
		sr := audit.Result{Partner: audit.Partner{Name: u.name, PrivateRoot: u.file}, Root: audit.Root{Store: audit.RootNone}}
		for _, root := range u.roots {
			sr.Targets = append(sr.Targets, audit.TargetResult{Root: root})
		}
		users = append(users, sr)
	}
	res.PrivateRoots = audit.Lifecycle(r.opts.PrivateRoots, users, audit.UsedByChain, r.opts.Now, th)
	return res
}

// keepRootUser keeps what the roots' lifecycle needs of partner i's result
// when it names a private root or a chain of it ends in one.
func (st *stream) keepRootUser(i int, res *audit.Result) {
	u := rootUser{i: i, name: res.Name, file: res.PrivateRoot}
	for _, root := range append([]audit.Root{res.Root}, targetRoots(res)...) {
		if root.Store == audit.RootPrivate && !slices.Contains(u.roots, root) {
			u.roots = append(u.roots, root)
		}
	}
	if u.file != "" || len(u.roots) > 0 {
		st.roots = append(st.roots, u)
	}
}

func targetRoots(res *audit.Result) []audit.Root {
	out := make([]audit.Root, len(res.Targets))
	for k := range res.Targets {
		out[k] = res.Targets[k].Root
	}
	return out
}

// probed is what the probe stage spills of each partner: its result and,
// for the delivery stage, its inventory rows (only when our MTA's policy
// is known: nothing else reads them).
type probed struct {
	Result audit.Result    `json:"r"`
	Rows   []audit.Partner `json:"rows,omitempty"`
}

// probeSpilled runs ProbeAll with every partner's result leaving memory as
// it completes, into st; the results returned hold no partner. A result
// the spill file refuses (a full disk) is kept in held instead, and the
// log says so.
func probeSpilled(ctx context.Context, rows Rows, opts Options, st *spill.Store[probed], keepRows bool, log *slog.Logger) (*audit.Results, map[int]*probed) {
	held := map[int]*probed{}
	opts.Emit = func(i int, r audit.Result, rows []audit.Partner) {
		p := &probed{Result: r}
		if keepRows {
			p.Rows = rows
		}
		if err := st.Put(i, p); err != nil {
			if len(held) == 0 {
				log.Warn("spill file refused a result: results held in memory", "error", err)
			}
			held[i] = p
		}
	}
	return probeRows(ctx, rows, opts), held
}

// eachProbed calls fn with every partner probed, in inventory order: from
// the spill file, or held when the spill file refused it. An unreadable
// spill file ends it with an error.
func eachProbed(st *spill.Store[probed], held map[int]*probed, fn func(*probed) error) error {
	next := 0
	flush := func(upTo int) error {
		for ; next < upTo; next++ {
			if p, ok := held[next]; ok {
				if err := fn(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := st.Each(func(i int, p *probed) error {
		if err := flush(i); err != nil {
			return err
		}
		next = i + 1
		return fn(p)
	})
	if err != nil {
		return err
	}
	return flush(max(st.Len(), maxKey(held)+1))
}

func maxKey(m map[int]*probed) int {
	k := -1
	for i := range m {
		k = max(k, i)
	}
	return k
}
