package reports

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool fails under CI=true and skips otherwise when an external reader is missing.
func needTool(t *testing.T, what, debianPkg string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	msg := what + " is not installed (Debian package " + debianPkg + "; .ci/run installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// pythonWithOpenpyxl returns a python3 that can import openpyxl, or "".
func pythonWithOpenpyxl() string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import openpyxl").Run() == nil {
			return p
		}
	}
	return ""
}

func havePoppler() bool {
	_, e1 := exec.LookPath("pdftotext")
	_, e2 := exec.LookPath("pdfinfo")
	return e1 == nil && e2 == nil
}

// runCmd runs a command and returns its stdout, failing the test on error.
func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// pdfText writes pdf to a temporary file and returns pdftotext's text and pdfinfo's page count line.
func pdfText(t *testing.T, pdf []byte) (text string, pages string) {
	t.Helper()
	needTool(t, "pdftotext/pdfinfo", "poppler-utils", havePoppler())
	p := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(p, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	text = runCmd(t, "pdftotext", "-layout", p, "-")
	for _, l := range strings.Split(runCmd(t, "pdfinfo", p), "\n") {
		if v, ok := strings.CutPrefix(l, "Pages:"); ok {
			pages = strings.TrimSpace(v)
		}
	}
	return text, pages
}
