package pipeline

import (
	"context"
	"sync"
	"time"
)

// scheduler starts probes as targets arrive from discovery, never more
// than the run's concurrency at once, never more than PerHost to one IP
// address and never more than PerProvider to the MX hosts of one
// registered domain, at most Rate a second. A job that must wait for its
// address or provider does not hold a worker: the first job in arrival
// order whose limits allow it starts, so one busy provider never stalls
// the others.
type scheduler struct {
	concurrency, perHost, perProvider int
	rate                              time.Duration // between two starts; 0 for no limit
	run                               func(*job)

	mu       sync.Mutex
	cond     *sync.Cond
	pending  []*job
	running  int
	perAddr  map[string]int
	perProv  map[string]int
	closed   bool // no more jobs will come
	stopped  bool // interrupted, or every job is done: add refuses jobs
	wg       sync.WaitGroup
	lastTick time.Time
	// Adds waiting for a place in pending get it in the order they came,
	// one woken at a time: a row starved of a place would hold back every
	// result after it. granted places are promised but not yet taken.
	waiting []chan struct{}
	granted int
}

func newScheduler(opts Options, run func(*job)) *scheduler {
	s := &scheduler{concurrency: opts.Concurrency, perHost: opts.PerHost, perProvider: opts.PerProvider,
		run: run, perAddr: map[string]int{}, perProv: map[string]int{}}
	if opts.Rate > 0 {
		s.rate = time.Duration(float64(time.Second) / opts.Rate)
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// add queues j; false when the run is over (interrupted): j is not probed.
func (s *scheduler) add(j *job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Discovery waits while enough probes are pending: what is queued
	// stays bounded however large the inventory.
	if !s.stopped && (len(s.waiting) > 0 || len(s.pending)+s.granted >= s.maxPending()) {
		ch := make(chan struct{})
		s.waiting = append(s.waiting, ch)
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
		if !s.stopped {
			s.granted--
		}
	}
	if s.stopped {
		return false
	}
	s.pending = append(s.pending, j)
	s.cond.Broadcast()
	return true
}

// maxPending is how many probes may wait to start: a few times the
// concurrency, so that a busy address or provider does not starve the pool.
func (s *scheduler) maxPending() int { return max(2*s.concurrency, 1024) }

// grant gives the places free in pending to the adds waiting longest.
func (s *scheduler) grant() {
	for len(s.waiting) > 0 && len(s.pending)+s.granted < s.maxPending() {
		close(s.waiting[0])
		s.waiting = s.waiting[1:]
		s.granted++
	}
}

// close says that no more jobs will be added.
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// next returns the first pending job whose limits allow it to start, or nil.
func (s *scheduler) next() *job {
	if s.running >= s.concurrency {
		return nil
	}
	for i, j := range s.pending {
		if s.perAddr[j.ip] < s.perHost && s.perProv[j.provider] < s.perProvider {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return j
		}
	}
	return nil
}

// loop starts the jobs until every job added before close is done, or ctx
// ends; it returns the jobs that never started (interrupted), after the
// running ones have returned.
func (s *scheduler) loop(ctx context.Context) []*job {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	for {
		if ctx.Err() != nil || (s.closed && len(s.pending) == 0) {
			break
		}
		j := s.next()
		if j == nil {
			s.cond.Wait()
			continue
		}
		s.grant()
		s.running++
		s.perAddr[j.ip]++
		s.perProv[j.provider]++
		s.mu.Unlock()
		if !s.pace(ctx) {
			s.mu.Lock()
			s.release(j)
			s.pending = append(s.pending, j)
			break
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.run(j)
			s.mu.Lock()
			s.release(j)
			s.cond.Broadcast()
			s.mu.Unlock()
		}()
		s.mu.Lock()
	}
	s.stopped = true
	for _, ch := range s.waiting { // adds waiting for a place give up
		close(ch)
	}
	s.waiting = nil
	left := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.wg.Wait()
	return left
}

func (s *scheduler) release(j *job) {
	s.running--
	// Counts at zero go, so the maps hold the running probes only.
	if s.perAddr[j.ip]--; s.perAddr[j.ip] == 0 {
		delete(s.perAddr, j.ip)
	}
	if s.perProv[j.provider]--; s.perProv[j.provider] == 0 {
		delete(s.perProv, j.provider)
	}
}

// pace waits until the rate allows the next start; false when ctx ends first.
func (s *scheduler) pace(ctx context.Context) bool {
	if s.rate == 0 {
		return true
	}
	if wait := time.Until(s.lastTick.Add(s.rate)); wait > 0 && !s.lastTick.IsZero() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	s.lastTick = time.Now()
	return true
}
