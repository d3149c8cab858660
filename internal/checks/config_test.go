package checks_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/internal/checks"
	"github.com/mxaudit/mxaudit/internal/regfile"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want checks.Config
		err  string
	}{
		{"scalars and arrays", `
[report]
title = "not ours"
[checks.expiry]
warning_days = 45
error_days = 10
[checks.allowed-ca]
issuers = ["CN=A, O=X", "CN=B"]
strict = true
ratio = 0.5
`, checks.Config{
			"expiry":     {"warning_days": {"45"}, "error_days": {"10"}},
			"allowed-ca": {"issuers": {"CN=A, O=X", "CN=B"}, "strict": {"true"}, "ratio": {"0.5"}},
		}, ""},
		{"no checks", "[report]\ntitle = 'x'\n", checks.Config{}, ""},
		{"nested table", "[checks.expiry.more]\nx = 1\n", nil, "[checks.expiry] more: a table"},
		{"syntax", "[checks.expiry\n", nil, "config.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(p, []byte(tt.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := checks.LoadConfig(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLoadConfigSpecialFiles: a FIFO or /dev/zero given as --config is refused at once.
func TestLoadConfigSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.toml")
	os.Symlink("/dev/zero", zero)
	for _, p := range []string{fifo, zero} {
		done := make(chan error, 1)
		go func() { _, err := checks.LoadConfig(p); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, regfile.ErrNotRegular) || !strings.Contains(err.Error(), p) {
				t.Errorf("LoadConfig(%s) = %v", p, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("LoadConfig(%s) blocked", p)
		}
	}
}
