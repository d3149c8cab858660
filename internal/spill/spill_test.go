package spill

import (
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func TestStore(t *testing.T) {
	tests := []struct {
		name    string
		put     []int // indexes put, in this order
		want    []int // indexes Each gives, in order
		wantErr string
	}{
		{name: "out of order comes back in order", put: []int{2, 0, 3, 1}, want: []int{0, 1, 2, 3}},
		{name: "missing one is skipped", put: []int{2, 0}, want: []int{0, 2}},
		{name: "put twice", put: []int{1, 1}, wantErr: "put twice"},
		{name: "negative", put: []int{-1}, wantErr: "negative index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Create[audit.Result](t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, i := range tc.put {
				r := audit.Result{Partner: audit.Partner{Name: strings.Repeat("p", i+1)}, Verdict: audit.Valid}
				if err = s.Put(i, &r); err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Count() != len(tc.put) {
				t.Errorf("Count() = %d with %d put", s.Count(), len(tc.put))
			}
			var got []int
			if err := s.Each(func(i int, r *audit.Result) error {
				if r.Name != strings.Repeat("p", i+1) || r.Verdict != audit.Valid {
					t.Errorf("partner %d read back as %q %s", i, r.Name, r.Verdict)
				}
				got = append(got, i)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Each gave %v; want %v", got, tc.want)
			}
			for k := range got {
				if got[k] != tc.want[k] {
					t.Fatalf("Each gave %v; want %v", got, tc.want)
				}
			}
		})
	}
}

// TestGet: a record is read back by its index, also between puts (the
// writer's buffer is flushed first) and from several goroutines at once;
// an index never put gives nil.
func TestGet(t *testing.T) {
	s, err := Create[audit.Partner](t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, i := range []int{3, 0, 1} {
		if err := s.Put(i, &audit.Partner{Name: strings.Repeat("p", i+1), Line: i + 2}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(i); err != nil || got == nil || got.Line != i+2 {
			t.Fatalf("Get(%d) right after Put: %+v, %v", i, got, err)
		}
	}
	tests := []struct {
		name string
		i    int
		want string // "" for nil
	}{
		{name: "first", i: 0, want: "p"},
		{name: "last", i: 3, want: "pppp"},
		{name: "never put", i: 2},
		{name: "beyond", i: 9},
		{name: "negative", i: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			for range 4 {
				go func() {
					defer func() { done <- struct{}{} }()
					got, err := s.Get(tc.i)
					if err != nil {
						t.Error(err)
						return
					}
					if (got == nil) != (tc.want == "") || got != nil && got.Name != tc.want {
						t.Errorf("Get(%d) = %+v, want %q", tc.i, got, tc.want)
					}
				}()
			}
			for range 4 {
				<-done
			}
		})
	}
}
