package reports

import (
	"os"
	"testing"
)

func TestScratch(t *testing.T) {
	out := os.Getenv("SCRATCH_OUT")
	if out == "" {
		t.Skip()
	}
	res := loadFixture(t)
	files, err := WriteAll(out, res, AllFormats, true, Options{Warn: func(s string) { t.Log("warn:", s) }})
	t.Log(files, err)
}
