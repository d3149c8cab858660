package regfile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mxaudit/mxaudit/internal/regfile"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "ok.txt")
	if err := os.WriteFile(regular, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.txt")
	if err := os.WriteFile(big, make([]byte, 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "root.cer")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.cer")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	linkOK := filepath.Join(dir, "link.txt")
	if err := os.Symlink(regular, linkOK); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		max     int64
		want    string
		wantErr error
		reason  string
	}{
		{"regular file", regular, 100, "hello", nil, ""},
		{"symlink to a regular file", linkOK, 100, "hello", nil, ""},
		{"exactly the cap", regular, 5, "hello", nil, ""},
		{"over the cap", big, 4096, "", regfile.ErrTooLarge, "4.9 KiB, over the 4.0 KiB limit"},
		{"FIFO", fifo, 100, "", regfile.ErrNotRegular, "a FIFO (named pipe), not a regular file"},
		{"symlink to /dev/zero", zero, 1 << 30, "", regfile.ErrNotRegular, "a character device, not a regular file"},
		{"directory", dir, 100, "", regfile.ErrNotRegular, "a directory, not a regular file"},
		{"missing", filepath.Join(dir, "nope"), 100, "", fs.ErrNotExist, "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				b   []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				b, err := regfile.Read(tt.path, tt.max)
				done <- result{b, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("Read(%s) still blocked after 5 s", tt.path)
			}
			if tt.wantErr == nil {
				if r.err != nil || string(r.b) != tt.want {
					t.Fatalf("Read = %q, %v; want %q", r.b, r.err, tt.want)
				}
				if err := regfile.Check(tt.path, tt.max); err != nil {
					t.Errorf("Check = %v", err)
				}
				return
			}
			if !errors.Is(r.err, tt.wantErr) {
				t.Fatalf("Read error = %v; want %v", r.err, tt.wantErr)
			}
			var re *regfile.Error
			if !errors.As(r.err, &re) || re.Path != tt.path || re.Reason != tt.reason {
				t.Errorf("error = %#v; want path %s, reason %q", r.err, tt.path, tt.reason)
			}
			if !strings.HasPrefix(r.err.Error(), tt.path+": ") {
				t.Errorf("message %q does not start with the path", r.err)
			}
			if err := regfile.Check(tt.path, tt.max); !errors.Is(err, tt.wantErr) {
				t.Errorf("Check = %v; want %v", err, tt.wantErr)
			}
		})
	}
}
