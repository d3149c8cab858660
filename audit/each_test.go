package audit

import (
	"errors"
	"testing"
)

// TestEachSeq: the iterator over a run's partners stops when asked
// without an error, and keeps their reader's own error for after.
func TestEachSeq(t *testing.T) {
	three := &Results{Partners: []Result{{Partner: Partner{Name: "a"}}, {Partner: Partner{Name: "b"}}, {Partner: Partner{Name: "c"}}}}
	broken := Each(func(fn func(*Result) error) error {
		if err := fn(&three.Partners[0]); err != nil {
			return err
		}
		return errors.New("spill file unreadable at partner 1")
	})
	tests := []struct {
		name    string
		src     Each
		stopAt  int // break after this many; 0 ranges over all
		want    int
		wantErr bool
	}{
		{name: "all", src: EachOf(three), want: 3},
		{name: "stopped", src: EachOf(three), stopAt: 2, want: 2},
		{name: "broken", src: broken, want: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seq, serr := tc.src.Seq()
			n := 0
			for range seq {
				n++
				if n == tc.stopAt {
					break
				}
			}
			if n != tc.want {
				t.Errorf("%d results, want %d", n, tc.want)
			}
			if err := serr(); (err != nil) != tc.wantErr {
				t.Errorf("error %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}
