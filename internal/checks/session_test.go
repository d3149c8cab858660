package checks_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
)

func partners(from, n int) []audit.Result {
	var out []audit.Result
	for i := from; i < from+n; i++ {
		out = append(out, audit.Result{Partner: audit.Partner{Name: "p" + strconv.Itoa(i)}})
	}
	return out
}

// TestSessionInterrupt: batches checked before an interrupt keep their
// findings; the batch given after it is not sent, its partners carry
// CheckFailed "interrupted" and Check returns ctx's error.
func TestSessionInterrupt(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, Logger: slog.New(&logSink{})})
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	head := &audit.Results{Started: now, PrivateRoots: []audit.PrivateRoot{{Subject: "CN=Root A", UsedBy: []string{"p1", "p5"}}}}
	s, err := h.Start(ctx, head, checks.Selection{Only: []string{"echo"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, second := partners(0, 3), partners(3, 3)
	if err := s.Check(ctx, first); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Check(ctx, second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check after cancel = %v, want context.Canceled", err)
	}
	if err := s.Finish(ctx); err != nil {
		t.Errorf("Finish = %v; the roots went with the first batch", err)
	}
	for _, r := range first {
		if len(sawPartner(&r)) != 1 || len(findings(&r, checks.CheckFailed)) != 0 {
			t.Errorf("%s (before the interrupt): %+v, want checked", r.Name, r.Findings)
		}
	}
	for _, r := range second {
		if f := findings(&r, checks.CheckFailed); len(f) != 1 || !strings.Contains(f[0].Message, "interrupted") || len(sawPartner(&r)) != 0 {
			t.Errorf("%s (after the interrupt): %+v, want CheckFailed interrupted only", r.Name, r.Findings)
		}
	}
	// p1 of the first batch heard of its root; p5 of the second too, though not checked.
	for _, r := range []audit.Result{first[1], second[2]} {
		if f := r.Findings[0]; f.Message != "private root CN=Root A: saw root CN=Root A" {
			t.Errorf("%s: first finding %+v, want the root's warning", r.Name, f)
		}
	}
	if f := head.PrivateRoots[0].Findings; len(f) != 1 || f[0].Message != "saw root CN=Root A" {
		t.Errorf("root findings %+v", f)
	}
	want := checks.Stats{FailedPlugins: 1, FailedCalls: 2, Unchecked: 3}
	if st := h.Stats(); st != want {
		t.Errorf("Stats = %+v, want %+v (two requests of the second batch: one per worker)", st, want)
	}
}

// TestSessionRootsAtFinish: a run without partners checks its private
// roots when it finishes.
func TestSessionRootsAtFinish(t *testing.T) {
	dir := pluginDir(t, "echo")
	paths, _ := checks.Discover([]string{dir})
	h := checks.Open(context.Background(), checks.Options{Plugins: paths, Logger: slog.New(&logSink{})})
	defer h.Close()
	head := &audit.Results{Started: now, PrivateRoots: []audit.PrivateRoot{{Subject: "CN=Root A"}, {Subject: "CN=Root B"}}}
	s, err := h.Start(context.Background(), head, checks.Selection{Only: []string{"echo"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(head.PrivateRoots[0].Findings) != 0 {
		t.Fatal("root findings before Finish")
	}
	if err := s.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range head.PrivateRoots {
		if len(r.Findings) != 1 || r.Findings[0].Message != "saw root "+r.Subject {
			t.Errorf("%s: findings %+v", r.Subject, r.Findings)
		}
	}
	// Start rejects what Check rejects.
	var ue *checks.UsageError
	if _, err := h.Start(context.Background(), head, checks.Selection{Only: []string{"nope"}}, nil); !errors.As(err, &ue) {
		t.Errorf("Start with an unknown check = %v, want a UsageError", err)
	}
}
