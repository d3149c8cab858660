package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/shard"
)

// clone deep-copies res through its JSON form (the results.json round trip).
// t may be nil (a test's subprocess), and a failure then panics.
func clone(t testing.TB, res *audit.Results) *audit.Results {
	var out audit.Results
	b, err := json.Marshal(res)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil && t != nil {
		t.Fatal(err)
	}
	if err != nil {
		panic(err)
	}
	return &out
}

// night returns a copy of res from vantage point v, started hours later
// (no certificate crosses an expiry threshold), with the given partners'
// verdicts replaced.
func night(t testing.TB, res *audit.Results, v string, hours int, verdicts map[string]audit.Verdict) *audit.Results {
	out := clone(t, res)
	out.Vantage = v
	out.Started = out.Started.Add(time.Duration(hours) * time.Hour)
	out.Finished = out.Finished.Add(time.Duration(hours) * time.Hour)
	for i := range out.Partners {
		r := &out.Partners[i]
		if vd, ok := verdicts[r.Name]; ok {
			r.Verdict, r.Verdicts = vd, []audit.Verdict{vd}
		}
	}
	return out
}

// TestChangesPerVantage records two nights from two vantage points,
// interleaved: the partner that times out from us-east on the first night
// recovers there on the second, and eu-1, which saw it fine both nights,
// reports nothing although the run recorded just before its second night
// (us-east's first) saw it failing.
func TestChangesPerVantage(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		base := fleetRuns()[0]
		eu1 := night(t, base, "eu-1", 0, nil)
		us1 := night(t, base, "us-east", 0, map[string]audit.Verdict{"fabrikam": audit.Timeout})
		eu2 := night(t, base, "eu-1", 1, nil)
		us2 := night(t, base, "us-east", 1, nil)
		for _, r := range []*audit.Results{eu1, us1, eu2, us2} {
			if err := db.Record(0, r); err != nil {
				t.Fatal(err)
			}
		}
		if got := kinds(eu2.Changes); len(got) != 0 {
			t.Errorf("eu-1's second night: %q, want no changes", got)
		}
		if got, want := kinds(us2.Changes), []string{"fabrikam verdict_recovered"}; !slices.Equal(got, want) {
			t.Errorf("us-east's second night: %q, want %q", got, want)
		}
		if us2.Changes[0].SinceRun != 2 {
			t.Errorf("us-east compared with run %d, want its own first night (run 2)", us2.Changes[0].SinceRun)
		}
		runs, err := db.Runs(RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, r := range runs {
			vs = append(vs, r.Vantage)
		}
		if want := []string{"eu-1", "us-east", "eu-1", "us-east"}; !slices.Equal(vs, want) {
			t.Errorf("vantage points listed %q, want %q", vs, want)
		}
		// diff without arguments compares the newest run with the previous one of its vantage point.
		a, b, err := db.LastRuns()
		if err != nil || a != 2 || b != 4 {
			t.Errorf("LastRuns = %d, %d, %v; want 2, 4", a, b, err)
		}
		sum, err := db.Summary(SummaryOptions{Since: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var fab []string
		for _, p := range sum.Partners {
			if p.Partner == "fabrikam" {
				fab = append(fab, fmt.Sprintf("%s %d/%d", p.Vantage, p.FailedRuns, p.Runs))
			}
		}
		if want := []string{"eu-1 0/2", "us-east 1/2"}; !slices.Equal(fab, want) {
			t.Errorf("summary of fabrikam per vantage point: %q, want %q", fab, want)
		}
		var sb strings.Builder
		if err := WriteRuns(&sb, runs); err != nil || !strings.Contains(sb.String(), "VANTAGE") || !strings.Contains(sb.String(), "us-east") {
			t.Errorf("WriteRuns without the vantage column:\n%s", sb.String())
		}
	})
}

// shardRuns splits run res into the n shards of run label label, each
// row's inventory line set, and returns them by K.
func shardRuns(t testing.TB, res *audit.Results, label string, n int) []*audit.Results {
	whole := clone(t, res)
	for i := range whole.Partners {
		whole.Partners[i].Line = i + 2
	}
	out := make([]*audit.Results, n)
	for k := range n {
		sp := shard.Spec{K: k, N: n}
		part := clone(t, whole)
		part.Partners = slices.DeleteFunc(part.Partners, func(r audit.Result) bool { return !sp.Holds(r.Partner) })
		part.Shard, part.RunLabel = sp.String(), label
		part.Started = part.Started.Add(time.Duration(k) * time.Minute)
		out[k] = part
	}
	return out
}

func names(res *audit.Results) []string {
	var out []string
	for _, r := range res.Partners {
		out = append(out, r.Name)
	}
	return out
}

// TestRunLabelMissingShard records shards 0 and 2 of three and begins
// shard 1 without recording it: the label says shard 1 is not done and
// cannot be put together; once shard 1 is recorded it can, partners in
// inventory order.
func TestRunLabelMissingShard(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		const label = "2026-11-27"
		whole := fleetRuns()[0]
		parts := shardRuns(t, whole, label, 3)
		meta := func(p *audit.Results) RunMeta {
			m, err := metaOf(p)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		for _, k := range []int{0, 2} {
			id, err := db.BeginRun(meta(parts[k]))
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Record(id, parts[k]); err != nil {
				t.Fatal(err)
			}
		}
		dead, err := db.BeginRun(meta(parts[1])) // never recorded: its scanner died
		if err != nil {
			t.Fatal(err)
		}
		st, err := db.Label(label)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus := StatusRunning // SQLite cannot tell
		if db.Postgres() {
			wantStatus = StatusInterrupted // nobody holds the scope's lock
		}
		var got []string
		for _, p := range st.Parts {
			got = append(got, fmt.Sprintf("%s %s", p.Shard, p.Status))
		}
		if want := []string{"0/3 complete", "1/3 " + wantStatus, "2/3 complete"}; !slices.Equal(got, want) {
			t.Fatalf("label parts %q, want %q", got, want)
		}
		if m := st.Missing(); len(m) != 1 || m[0].Run != dead || m[0].Name() != "shard 1/3" {
			t.Errorf("missing %+v", m)
		}
		_, err = db.LabelResults(st, "")
		if !errors.Is(err, ErrLabelIncomplete) || !strings.Contains(err.Error(), "shard 1/3 ("+wantStatus+")") {
			t.Fatalf("putting an incomplete label together: %v", err)
		}

		id, err := db.BeginRun(meta(parts[1]))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Record(id, parts[1]); err != nil {
			t.Fatal(err)
		}
		if st, err = db.Label(label); err != nil || len(st.Missing()) != 0 {
			t.Fatalf("label after shard 1 ran again: %+v %v", st, err)
		}
		merged, err := db.LabelResults(st, "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(merged), names(whole); !slices.Equal(got, want) {
			t.Errorf("merged partners %q, want the inventory's %q", got, want)
		}
		if merged.Shard != "" || merged.RunLabel != label || !merged.Started.Equal(whole.Started) {
			t.Errorf("merged run: shard %q label %q started %s", merged.Shard, merged.RunLabel, merged.Started)
		}
		// Streamed: the same partners in the same order, the same head.
		var streamed []string
		if err := db.EachLabelResult(st, "", func(r *audit.Result) error {
			streamed = append(streamed, r.Name)
			return nil
		}); err != nil || !slices.Equal(streamed, names(whole)) {
			t.Errorf("EachLabelResult: %q, %v; want %q", streamed, err, names(whole))
		}
		head, err := db.LabelHead(st, "")
		if err != nil {
			t.Fatal(err)
		}
		head.Partners = merged.Partners
		if a, b := must(json.Marshal(head)), must(json.Marshal(merged)); string(a) != string(b) {
			t.Errorf("LabelHead differs from LabelResults:\n%s\n%s", a, b)
		}
		if r, err := db.Run(dead); err != nil || r.Status != StatusInterrupted {
			t.Errorf("the dead shard's run: %+v %v", r, err)
		}
	})
}

// TestRunLabelOneInventoryOneN refuses a label whose runs mix inventories
// or shard counts, and a vantage point or label that cannot be a name.
func TestRunLabelOneInventoryOneN(t *testing.T) {
	eachBackend(t, func(t *testing.T, db *DB) {
		begin := func(inv string, sp shard.Spec, label string) error {
			_, err := db.BeginRun(RunMeta{Scope: Scope{Inventory: inv, Shard: sp}, Label: label, Started: now})
			return err
		}
		if err := begin("/a.csv", shard.Spec{K: 0, N: 2}, "x"); err != nil {
			t.Fatal(err)
		}
		if err := begin("/a.csv", shard.Spec{K: 1, N: 3}, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Label("x"); err == nil || !strings.Contains(err.Error(), "runs of 2 and of 3 shards") {
			t.Errorf("two shard counts: %v", err)
		}
		if err := begin("/a.csv", shard.Spec{}, "y"); err != nil {
			t.Fatal(err)
		}
		if err := begin("/b.csv", shard.Spec{}, "y"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Label("y"); err == nil || !strings.Contains(err.Error(), "two inventories") {
			t.Errorf("two inventories: %v", err)
		}
		if _, err := db.Label("nothing"); !errors.Is(err, ErrNoRun) {
			t.Errorf("an unknown label: %v", err)
		}
		for _, bad := range []string{"two words", "a/b", "..", strings.Repeat("x", 65), "tab\there"} {
			if err := begin("/a.csv", shard.Spec{}, bad); err == nil {
				t.Errorf("label %q accepted", bad)
			}
		}
	})
}

// TestMergeRoots puts two shards' private roots together: a root one
// shard used and the other found unused is used, graded over every
// shard's partners, with the findings of the shard that used it.
func TestMergeRoots(t *testing.T) {
	root := func(usedBy []string, finding string) audit.PrivateRoot {
		return audit.PrivateRoot{File: "r.cer", SHA256: "AB", NotAfter: now.AddDate(0, 0, 400), UsedBy: usedBy, DeclaredBy: []string{},
			Findings: []audit.Finding{{Check: "private-root", Message: finding}}}
	}
	user := result("adatum", audit.Valid, audit.RootPrivate, nil)
	user.Root.SHA256, user.Line = "AB", 3
	other := result("northwind", audit.Valid, audit.RootSystem, nil)
	other.Line = 2
	bad := []audit.InventoryError{{File: "i.csv", Line: 4, Column: "host", Message: "empty"}}
	a := &audit.Results{Started: now, Partners: []audit.Result{other}, PrivateRoots: []audit.PrivateRoot{root([]string{}, "not used by any partner")}, InventoryErrors: bad}
	b := &audit.Results{Started: now.Add(time.Minute), Partners: []audit.Result{user}, PrivateRoots: []audit.PrivateRoot{root([]string{"adatum"}, "fine")}, InventoryErrors: bad}
	m := Merge([]*audit.Results{b, a})
	if len(m.PrivateRoots) != 1 {
		t.Fatalf("%d roots", len(m.PrivateRoots))
	}
	r := m.PrivateRoots[0]
	if r.Status != audit.RootOK || !slices.Equal(r.UsedBy, []string{"adatum"}) || r.Findings[0].Message != "fine" || r.DaysLeft != 400 {
		t.Errorf("merged root %+v", r)
	}
	if len(m.InventoryErrors) != 1 || !m.Started.Equal(now) || !slices.Equal(names(m), []string{"northwind", "adatum"}) {
		t.Errorf("inventory errors %v, started %s, partners %q", m.InventoryErrors, m.Started, names(m))
	}
}
