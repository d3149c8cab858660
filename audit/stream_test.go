package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteResultsStream: the streamed results.json is WriteResults' byte for byte.
func TestWriteResultsStream(t *testing.T) {
	full, err := ReadResults(filepath.Join("..", "reports", "testdata", "results-targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		partners []Result
	}{
		{name: "fixture", partners: full.Partners},
		{name: "one", partners: full.Partners[:1]},
		{name: "none", partners: []Result{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			res := *full
			res.Partners = tc.partners
			held, streamed := filepath.Join(dir, "held.json"), filepath.Join(dir, "streamed.json")
			if err := WriteResults(held, &res); err != nil {
				t.Fatal(err)
			}
			head := res
			head.Partners = nil
			if err := WriteResultsStream(streamed, &head, func(fn func(*Result) error) error {
				for i := range tc.partners {
					if err := fn(&tc.partners[i]); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(held)
			b, _ := os.ReadFile(streamed)
			if !bytes.Equal(a, b) {
				t.Errorf("streamed results.json (%d bytes) differs from the held one (%d bytes)", len(b), len(a))
			}
		})
	}
}
