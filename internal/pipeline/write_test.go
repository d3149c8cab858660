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

// TestWriteStageStreamsResults: the write stage writes results.json and
// the CSV reports from the results read back from a spill file (put out of
// order), byte for byte what WriteResults and WriteAll write of the run
// held whole.
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
			st, err := spill.Create[audit.Result](dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			for i := len(tc.partners) - 1; i >= 0; i-- { // in completion order, not inventory order
				if err := st.Put(i, &tc.partners[i]); err != nil {
					t.Fatal(err)
				}
			}
			csv := []reports.Format{reports.CSV}
			if _, err := reports.WriteAll(context.Background(), dir, &res, csv, false, reports.Options{}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			head := res
			head.Partners = nil // the stage must not need them
			cfg := Config{Out: out, Reports: Reports{Formats: []reports.Format{reports.JSON, reports.CSV}}}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if err := writeStage(context.Background(), cfg, &head, spilledPartners(st), log); err != nil {
				t.Fatal(err)
			}
			files := []struct{ held, stage string }{
				{want, reports.FileResultsJSON},
				{reports.FilePartnersCSV, reports.FilePartnersCSV},
				{reports.FileTargetsCSV, reports.FileTargetsCSV},
				{reports.FileFindingsCSV, reports.FileFindingsCSV},
			}
			for _, f := range files {
				a, err := os.ReadFile(filepath.Join(dir, filepath.Base(f.held)))
				if err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(out, f.stage))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Errorf("the stage's %s (%d bytes) differs from the held run's (%d bytes)", f.stage, len(b), len(a))
				}
			}
		})
	}
}
