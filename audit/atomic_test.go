package audit

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteAtomic: what fn writes replaces the file whole; an error of fn
// leaves the file as it was and no temporary file beside it.
func TestWriteAtomic(t *testing.T) {
	big := strings.Repeat("row,of,a,report\n", 20000) // over the write buffer
	tests := []struct {
		name string
		fn   func(io.Writer) error
		want string
		err  bool
	}{
		{name: "small", fn: func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }, want: "new\n"},
		{name: "over the buffer", fn: func(w io.Writer) error { _, err := io.WriteString(w, big); return err }, want: big},
		{name: "fails half way", fn: func(w io.Writer) error {
			io.WriteString(w, big)
			return errors.New("spill file unreadable")
		}, want: "old\n", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "partners.csv")
			if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := WriteAtomic(path, tc.fn)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want one: %v", err, tc.err)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if string(got) != tc.want {
				t.Errorf("file holds %d bytes, want %d", len(got), len(tc.want))
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Errorf("%d files in the folder, want only partners.csv", len(ents))
			}
			if fi, _ := os.Stat(path); !tc.err && fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", fi.Mode().Perm())
			}
		})
	}
}
