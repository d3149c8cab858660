package pipeline

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/spill"
	"github.com/mxaudit/mxaudit/reports"
)

// TestWriteStageStreamsResults: the write stage writes results.json from
// the results read back from a spill file (put out of order), byte for
// byte what WriteResults writes of the run held whole.
func TestWriteStageStreamsResults(t *testing.T) {
	full, err := audit.ReadResults(filepath.Join("..", "..", "reports", "testdata", "results-targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		partners []audit.Result
	}{
		{name: "fixture", partners: full.Partners},
		{name: "one", partners: full.Partners[:1]},
		{name: "none", partners: []audit.Result{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			res := *full
			res.Partners = tc.partners
			want := filepath.Join(dir, "held.json")
			if err := audit.WriteResults(want, &res); err != nil {
				t.Fatal(err)
			}
			st, err := spill.Create(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := len(tc.partners) - 1; i >= 0; i-- { // in completion order, not inventory order
				if err := st.Put(i, &tc.partners[i]); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			head := res
			head.Partners = nil // the stage must not need them
			cfg := Config{Out: out, Reports: Reports{Formats: []reports.Format{reports.JSON}}}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if err := writeStage(context.Background(), cfg, &head, spilledPartners(st), log); err != nil {
				t.Fatal(err)
			}
			a, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, reports.FileResultsJSON))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("the stage's results.json (%d bytes) differs from WriteResults' (%d bytes)", len(b), len(a))
			}
		})
	}
}
