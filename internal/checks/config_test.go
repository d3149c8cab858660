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

	"github.com/mxaudit/mxaudit/audit"
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
[checks.tls-version]
min_version = "1.3"
[checks.allowed-ca]
issuers = ["CN=A, O=X", "CN=B"]
strict = true
ratio = 0.5
`, checks.Config{
			"tls-version": {"min_version": {"1.3"}},
			"allowed-ca":  {"issuers": {"CN=A, O=X", "CN=B"}, "strict": {"true"}, "ratio": {"0.5"}},
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

// TestLoadFile: the [thresholds] table, and the check settings that were
// thresholds before, read as thresholds with a warning each.
func TestLoadFile(t *testing.T) {
	def := audit.DefaultThresholds()
	with := func(f func(*audit.Thresholds)) audit.Thresholds { th := def; f(&th); return th }
	tests := []struct {
		name     string
		toml     string
		want     audit.Thresholds
		checks   checks.Config
		warnings []string // one substring per warning
		err      string
	}{
		{"none", "[scan]\nout = 'x'\n", def, checks.Config{}, nil, ""},
		{"the table", `
[thresholds]
min_rsa_bits = 1024
root_expiring_days = 30
`, with(func(t *audit.Thresholds) { t.MinRSABits, t.RootExpiringDays = 1024, 30 }), checks.Config{}, nil, ""},
		{"the old keys", `
[checks.weak-key]
min_rsa_bits = 1024
[checks.private-root]
expiring_days = 30
[checks.expiry]
warning_days = 45
error_days = 10
[checks.allowed-ca]
issuers = ["CN=A"]
`, with(func(t *audit.Thresholds) {
			t.MinRSABits, t.RootExpiringDays, t.ExpiryWarningDays, t.ExpiryErrorDays = 1024, 30, 45, 10
		}), checks.Config{"allowed-ca": {"issuers": {"CN=A"}}}, []string{
			"[checks.weak-key] min_rsa_bits is deprecated: read as [thresholds] min_rsa_bits = 1024",
			"[checks.expiry] warning_days is deprecated: read as [thresholds] expiry_warning_days = 45",
			"[checks.expiry] error_days is deprecated: read as [thresholds] expiry_error_days = 10",
			"[checks.private-root] expiring_days is deprecated: read as [thresholds] root_expiring_days = 30",
		}, ""},
		{"old and new agree", "[thresholds]\nmin_ec_bits = 384\n[checks.weak-key]\nmin_ec_bits = 384\n",
			with(func(t *audit.Thresholds) { t.MinECBits = 384 }), checks.Config{}, []string{"[checks.weak-key] min_ec_bits is deprecated"}, ""},
		{"old and new disagree", "[thresholds]\nmin_rsa_bits = 3072\n[checks.weak-key]\nmin_rsa_bits = 1024\n",
			def, nil, nil, "[checks.weak-key] min_rsa_bits = 1024 and [thresholds] min_rsa_bits = 3072 disagree"},
		{"unknown threshold", "[thresholds]\nexpiring_days = 30\n", def, nil, nil, `[thresholds] expiring_days: no threshold "expiring_days"`},
		{"not a number", "[thresholds]\nmin_rsa_bits = \"lots\"\n", def, nil, nil, "[thresholds] min_rsa_bits: lots is not a whole number"},
		{"old key not a number", "[checks.expiry]\nwarning_days = \"soon\"\n", def, nil, nil, `[checks.expiry] warning_days: "soon" is not a whole number`},
		{"error window wider than the warning window", "[thresholds]\nexpiry_warning_days = 3\nexpiry_error_days = 9\n", def, nil, nil,
			"expiry_error_days = 9 is more than expiry_warning_days = 3"},
		{"negative days", "[thresholds]\nroot_expiring_days = -1\n", def, nil, nil, "root_expiring_days = -1: want 0 or more days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mxaudit.toml")
			if err := os.WriteFile(p, []byte(tt.toml), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := checks.LoadFile(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), p) {
					t.Fatalf("err = %v, want %q naming the file", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Thresholds != tt.want {
				t.Errorf("thresholds %+v, want %+v", f.Thresholds, tt.want)
			}
			if !reflect.DeepEqual(f.Checks, tt.checks) {
				t.Errorf("checks %v, want %v (the old keys taken out)", f.Checks, tt.checks)
			}
			if len(f.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %d", f.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(f.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", f.Warnings[i], w)
				}
			}
		})
	}
}
