package spill

import (
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

func TestStore(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		put     []int // indexes put, in this order
		want    []int // indexes Each gives, in order
		wantErr string
	}{
		{name: "out of order comes back in order", n: 4, put: []int{2, 0, 3, 1}, want: []int{0, 1, 2, 3}},
		{name: "missing one is skipped", n: 3, put: []int{2, 0}, want: []int{0, 2}},
		{name: "put twice", n: 2, put: []int{1, 1}, wantErr: "put twice"},
		{name: "out of range", n: 2, put: []int{2}, wantErr: "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Create(t.TempDir(), tc.n)
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
			if s.Complete() != (len(tc.put) == tc.n) {
				t.Errorf("Complete() = %v with %d of %d put", s.Complete(), len(tc.put), tc.n)
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
