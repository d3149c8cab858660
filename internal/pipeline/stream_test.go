package pipeline

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/fleet"
	"github.com/mxaudit/mxaudit/internal/probe"
	"github.com/mxaudit/mxaudit/internal/revocation"
	"github.com/mxaudit/mxaudit/internal/spill"
)

// TestStreamedSameAsHeld audits the domain fleet (shared provider MX,
// private roots, DNS failures, several rows per partner) twice: held in
// memory, and streamed out partner by partner into a spill file as each
// completes. Read back in order, the streamed run says what the held one
// says, partner by partner, and grades the private roots alike.
func TestStreamedSameAsHeld(t *testing.T) {
	f, srv, tr := startDNSFleet(t, fleet.Options{Domains: true})
	opts := func() Options {
		return Options{
			DNS:   resolverFor(t, srv, time.Second),
			Probe: probe.Options{HELO: "audit.test", Timeout: 3 * time.Second, ConnectTimeout: time.Second, OneKeyType: true},
			Roots: tr.Pool, StoreOf: tr.StoreOf, PrivateRoots: tr.PrivateRoots(f.Now), Now: f.Now,
			Inspect: revocation.NewFetcher(revocation.Options{Timeout: time.Second}).Inspector(tr.Pool, f.Now),
		}
	}
	held := ProbeAll(context.Background(), f.Partners(), opts())

	st, err := spill.Create[audit.Result](t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mu sync.Mutex
	var order []int
	o := opts()
	o.Emit = func(i int, r audit.Result, _ []audit.Partner) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, i)
		if err := st.Put(i, &r); err != nil {
			t.Error(err)
		}
	}
	streamed := ProbeAll(context.Background(), f.Partners(), o)
	if len(streamed.Partners) != 0 {
		t.Errorf("a streamed run holds %d partners; want none", len(streamed.Partners))
	}
	if st.Count() != len(held.Partners) {
		t.Fatalf("%d partners emitted of %d", len(order), len(held.Partners))
	}
	if streamed.Incomplete != held.Incomplete || !slices.Equal(streamed.Notes, held.Notes) {
		t.Errorf("streamed run: incomplete %v notes %q; held: %v %q", streamed.Incomplete, streamed.Notes, held.Incomplete, held.Notes)
	}
	if got, want := canon(t, streamed.PrivateRoots), canon(t, held.PrivateRoots); got != want {
		t.Errorf("private roots streamed:\n%s\nheld:\n%s", got, want)
	}
	used := 0
	for _, pr := range held.PrivateRoots {
		used += len(pr.UsedBy)
	}
	if used == 0 {
		t.Error("the fleet's private roots are used by no partner: the roots comparison proves nothing")
	}
	shared := 0
	err = st.Each(func(i int, r *audit.Result) error {
		h := &held.Partners[i]
		if got, want := canon(t, timeless(*r)), canon(t, timeless(*h)); got != want {
			t.Errorf("partner %d %s streamed:\n%s\nheld:\n%s", i, h.Name, got, want)
		}
		for _, tg := range r.Targets {
			if tg.SharedWith != "" {
				shared++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if shared == 0 {
		t.Error("no target shares a probe: the fleet's shared provider MX should")
	}
}

// timeless is r without what differs from one run to the next: durations.
func timeless(r audit.Result) audit.Result {
	r.DurationMS, r.SMTP.TimingsMS = 0, nil
	r.Targets = slices.Clone(r.Targets)
	for k := range r.Targets {
		r.Targets[k].DurationMS, r.Targets[k].SMTP.TimingsMS = 0, nil
	}
	return r
}

func canon(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
