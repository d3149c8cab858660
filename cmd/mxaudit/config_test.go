package main

import (
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/internal/checks"
)

// TestContribConfig keeps contrib/mxaudit.toml in step with the flags and
// the thresholds: every [scan] key is a flag of mxaudit scan, and its
// [thresholds] load without a deprecated key.
func TestContribConfig(t *testing.T) {
	var doc struct {
		Scan       map[string]any `toml:"scan"`
		Thresholds map[string]any `toml:"thresholds"`
	}
	if _, err := toml.DecodeFile("../../contrib/mxaudit.toml", &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Scan) == 0 || len(doc.Thresholds) != len(audit.ThresholdKeys) {
		t.Fatalf("contrib/mxaudit.toml: [scan] %v, [thresholds] %v (want every threshold, with its default)", doc.Scan, doc.Thresholds)
	}
	f, err := checks.LoadFile("../../contrib/mxaudit.toml")
	if err != nil || f.Thresholds != audit.DefaultThresholds() || len(f.Warnings) > 0 {
		t.Errorf("contrib/mxaudit.toml: thresholds %+v, warnings %q, %v; want the defaults, no warning", f.Thresholds, f.Warnings, err)
	}
	flags := scanCommand().Flags
	for key := range doc.Scan {
		if !hasFlag(flags, key) {
			t.Errorf("contrib/mxaudit.toml: [scan] %s is not a flag of mxaudit scan", key)
		}
	}
}
