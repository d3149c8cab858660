package history

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"text/tabwriter"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// StatusMissing is the status of a shard of a run label that no run began.
const StatusMissing = "missing"

// ErrLabelIncomplete says a run label still misses shards.
var ErrLabelIncomplete = errors.New("not every shard of the run label has finished")

// ShardStatus is one expected part of a run label: one shard (or the whole
// inventory) from one vantage point.
type ShardStatus struct {
	Vantage string     `json:"vantage"`
	Shard   shard.Spec `json:"-"`
	Run     int64      `json:"run,omitempty"` // the run that completed it, else the latest attempt; 0 for none
	// Status is StatusComplete, StatusRunning (its scanner still holds the
	// lock), StatusInterrupted (the scanner died or was stopped) or
	// StatusMissing (no run began).
	Status string `json:"status"`
}

// Name says the part in words: "shard 2/4 from vantage eu-1".
func (s ShardStatus) Name() string {
	out := "the whole inventory"
	if !s.Shard.Whole() {
		out = "shard " + s.Shard.String()
	}
	if s.Vantage != "" {
		out += " from vantage " + s.Vantage
	}
	return out
}

// LabelStatus says which parts of a run label have finished.
type LabelStatus struct {
	Label     string        `json:"run_label"`
	Inventory string        `json:"inventory"`
	Parts     []ShardStatus `json:"parts"` // by vantage point, then shard
}

// Missing returns the parts that have no complete run.
func (l *LabelStatus) Missing() []ShardStatus {
	var out []ShardStatus
	for _, p := range l.Parts {
		if p.Status != StatusComplete {
			out = append(out, p)
		}
	}
	return out
}

// Vantages returns the vantage points of the label, sorted.
func (l *LabelStatus) Vantages() []string {
	var out []string
	for _, p := range l.Parts {
		if !slices.Contains(out, p.Vantage) {
			out = append(out, p.Vantage)
		}
	}
	return out
}

// Label returns the status of every part of run label label. The shards
// expected from a vantage point are 0 to N-1 for the N its runs were
// started with; a vantage point none of whose runs began cannot be known.
// Runs of one label must share one inventory and, per vantage point, one
// N. On PostgreSQL a run still marked running whose scope's lock is free
// is reported interrupted: its scanner is gone.
func (db *DB) Label(label string) (_ *LabelStatus, err error) {
	defer func() { err = db.wrap(OpRead, err) }()
	if label == "" {
		return nil, fmt.Errorf("history: an empty run label")
	}
	runs, err := db.runs(` WHERE r.label = ?`, []any{label}, 0)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("history: run label %q: %w", label, ErrNoRun)
	}
	st := &LabelStatus{Label: label, Inventory: runs[0].Inventory}
	shards := map[string]int{} // N per vantage point
	best := map[string]map[int]Run{}
	for _, r := range runs { // oldest first: a later run of a part replaces an earlier one unless that one completed
		if r.Inventory != st.Inventory {
			return nil, fmt.Errorf("history: run label %q has runs of two inventories, %s (run %d) and %s (run %d)", label, st.Inventory, runs[0].ID, r.Inventory, r.ID)
		}
		sp := r.Scope().Shard
		if n, seen := shards[r.Vantage]; seen && n != sp.N {
			return nil, fmt.Errorf("history: run label %q from vantage %q has runs of %d and of %d shards (run %d)", label, r.Vantage, n, sp.N, r.ID)
		}
		shards[r.Vantage] = sp.N
		if best[r.Vantage] == nil {
			best[r.Vantage] = map[int]Run{}
		}
		if prev, ok := best[r.Vantage][sp.K]; !ok || prev.Status != StatusComplete {
			best[r.Vantage][sp.K] = r
		}
	}
	for v, n := range shards {
		for k := range max(n, 1) {
			part := ShardStatus{Vantage: v, Shard: shard.Spec{K: k, N: n}, Status: StatusMissing}
			if r, ok := best[v][k]; ok {
				part.Run, part.Status = r.ID, r.Status
				if part.Status == StatusRunning && db.pg {
					held, err := db.lockHeld(context.Background(), r.Scope())
					if err != nil {
						return nil, fmt.Errorf("history: run label %q: %w", label, err)
					}
					if !held {
						part.Status = StatusInterrupted
					}
				}
			}
			st.Parts = append(st.Parts, part)
		}
	}
	slices.SortFunc(st.Parts, func(a, b ShardStatus) int {
		return cmp.Or(cmp.Compare(a.Vantage, b.Vantage), cmp.Compare(a.Shard.K, b.Shard.K))
	})
	return st, nil
}

// WriteText writes the parts of l as a plain-text table.
func (l *LabelStatus) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "Run label %s (%s):\n", l.Label, l.Inventory)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VANTAGE\tSHARD\tSTATUS\tRUN")
	for _, p := range l.Parts {
		run := "-"
		if p.Run != 0 {
			run = fmt.Sprint(p.Run)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", orDash(p.Vantage), orDash(p.Shard.String()), p.Status, run)
	}
	return tw.Flush()
}

// LabelResults puts the complete runs of run label l from vantage point
// vantage together as one run of the whole inventory: partners in
// inventory order, the private roots once with the partners of every shard,
// inventory and trust errors once, the changes of every shard. It fails
// with ErrLabelIncomplete, naming the parts, when one has not finished.
// For a label too large to hold, use LabelHead and EachLabelResult.
func (db *DB) LabelResults(l *LabelStatus, vantage string) (*audit.Results, error) {
	runs, err := labelRuns(l, vantage)
	if err != nil {
		return nil, err
	}
	parts := make([]*audit.Results, len(runs))
	for i, id := range runs {
		if parts[i], err = db.Results(id); err != nil {
			return nil, err
		}
	}
	return Merge(parts), nil
}

// labelRuns returns the complete runs of the shards of run label l from
// vantage point vantage, in shard order, or ErrLabelIncomplete naming the
// parts that have not finished.
func labelRuns(l *LabelStatus, vantage string) ([]int64, error) {
	var runs []int64
	var missing []string
	for _, p := range l.Parts {
		if p.Vantage != vantage {
			continue
		}
		if p.Status != StatusComplete {
			missing = append(missing, fmt.Sprintf("%s (%s)", p.Name(), p.Status))
			continue
		}
		runs = append(runs, p.Run)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("run label %s: %w: %v", l.Label, ErrLabelIncomplete, missing)
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("history: run label %q has no run from vantage %q: %w", l.Label, vantage, ErrNoRun)
	}
	return runs, nil
}

// LabelHead is the head of LabelResults (Partners nil): the heads of the
// shards put together, each private root declared and used by the
// partners that declare and use it in any shard, graded again.
func (db *DB) LabelHead(l *LabelStatus, vantage string) (*audit.Results, error) {
	runs, err := labelRuns(l, vantage)
	if err != nil {
		return nil, err
	}
	parts := make([]*audit.Results, len(runs))
	for i, id := range runs {
		if parts[i], err = db.RunHead(id); err != nil {
			return nil, err
		}
	}
	out := mergeHeads(parts)
	for i := range out.PrivateRoots {
		pr := &out.PrivateRoots[i]
		pr.DeclaredBy, pr.UsedBy = []string{}, []string{}
		for _, p := range parts {
			for _, r := range p.PrivateRoots {
				if r.File == pr.File && r.SHA256 == pr.SHA256 {
					pr.DeclaredBy = appendNew(pr.DeclaredBy, r.DeclaredBy)
					pr.UsedBy = appendNew(pr.UsedBy, r.UsedBy)
				}
			}
		}
		pr.DaysLeft = audit.DaysLeft(pr.NotAfter, out.Started)
		pr.Status = out.RunThresholds().RootStatus(pr.DaysLeft, len(pr.UsedBy) > 0)
	}
	return out, nil
}

// appendNew appends the strings of add that out does not hold yet.
func appendNew(out, add []string) []string {
	for _, s := range add {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// EachLabelResult calls fn with every result of the shards of run label l
// from vantage point vantage in inventory order (by inventory line, the
// shards' results merged as they are read: memory holds one page of
// results per shard), as LabelResults orders them.
func (db *DB) EachLabelResult(l *LabelStatus, vantage string, fn func(*audit.Result) error) error {
	runs, err := labelRuns(l, vantage)
	if err != nil {
		return err
	}
	type source struct {
		next func() (*audit.Result, bool)
		stop func()
		cur  *audit.Result
		err  error
	}
	srcs := make([]*source, len(runs))
	for i, id := range runs {
		s := &source{}
		seq := func(yield func(*audit.Result) bool) {
			s.err = db.EachResult(id, func(r *audit.Result) error {
				if !yield(r) {
					return errStop
				}
				return nil
			})
			if errors.Is(s.err, errStop) {
				s.err = nil
			}
		}
		s.next, s.stop = iter.Pull(seq)
		defer s.stop()
		s.cur, _ = s.next()
		if s.err != nil {
			return s.err
		}
		srcs[i] = s
	}
	for {
		var best *source
		for _, s := range srcs {
			if s.cur != nil && (best == nil || s.cur.Line < best.cur.Line) {
				best = s
			}
		}
		if best == nil {
			return nil
		}
		if err := fn(best.cur); err != nil {
			return err
		}
		best.cur, _ = best.next()
		if best.err != nil {
			return best.err
		}
	}
}

// errStop stops an EachResult early.
var errStop = errors.New("stop")

// Merge puts the runs of the shards of one run label (one vantage point)
// together; see LabelResults.
func Merge(parts []*audit.Results) *audit.Results {
	out := mergeHeads(parts)
	for _, p := range parts {
		out.Partners = append(out.Partners, p.Partners...)
	}
	slices.SortStableFunc(out.Partners, func(a, b audit.Result) int { return cmp.Compare(a.Line, b.Line) })
	// Who declares and uses each root, and its status, over every shard's partners.
	out.PrivateRoots = audit.Lifecycle(out.PrivateRoots, out.Partners, audit.UsedByChain, out.Started, out.RunThresholds())
	if out.PrivateRoots == nil {
		out.PrivateRoots = []audit.PrivateRoot{}
	}
	return out
}

// mergeHeads puts the heads of parts together, without partners: see LabelResults.
func mergeHeads(parts []*audit.Results) *audit.Results {
	out := *parts[0]
	out.Shard = ""
	out.Partners, out.PrivateRoots, out.InventoryErrors, out.TrustErrors, out.Changes = nil, nil, nil, nil, nil
	roots := map[string]int{}
	seenInv, seenTrust := map[audit.InventoryError]bool{}, map[audit.TrustError]bool{}
	for _, p := range parts {
		if p.Started.Before(out.Started) {
			out.Started = p.Started
		}
		if p.Finished.After(out.Finished) {
			out.Finished = p.Finished
		}
		out.Incomplete = out.Incomplete || p.Incomplete
		out.Changes = append(out.Changes, p.Changes...)
		for _, e := range p.InventoryErrors {
			if !seenInv[e] {
				seenInv[e] = true
				out.InventoryErrors = append(out.InventoryErrors, e)
			}
		}
		for _, e := range p.TrustErrors {
			if !seenTrust[e] {
				seenTrust[e] = true
				out.TrustErrors = append(out.TrustErrors, e)
			}
		}
		for _, r := range p.PrivateRoots {
			key := r.File + "\x00" + r.SHA256
			i, ok := roots[key]
			if !ok {
				roots[key] = len(out.PrivateRoots)
				out.PrivateRoots = append(out.PrivateRoots, r)
				continue
			}
			if m := &out.PrivateRoots[i]; len(m.UsedBy) == 0 && len(r.UsedBy) > 0 {
				// A shard in which no partner used the root found it unused:
				// the findings of a shard that used it are the whole's.
				m.Findings, m.UsedBy = r.Findings, r.UsedBy
			}
		}
	}
	if out.PrivateRoots == nil {
		out.PrivateRoots = []audit.PrivateRoot{}
	}
	if out.InventoryErrors == nil {
		out.InventoryErrors = []audit.InventoryError{}
	}
	return &out
}
