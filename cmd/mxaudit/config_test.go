package main

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// TestContribConfig keeps contrib/mxaudit.toml in step with the flags: every
// [scan] key is a flag of mxaudit scan, and the systemd unit's command parses.
func TestContribConfig(t *testing.T) {
	var doc struct {
		Scan   map[string]any            `toml:"scan"`
		Checks map[string]map[string]any `toml:"checks"`
	}
	if _, err := toml.DecodeFile("../../contrib/mxaudit.toml", &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Scan) == 0 || len(doc.Checks) == 0 {
		t.Fatalf("contrib/mxaudit.toml: [scan] %v, [checks] %v", doc.Scan, doc.Checks)
	}
	flags := scanCommand().Flags
	for key := range doc.Scan {
		if !hasFlag(flags, key) {
			t.Errorf("contrib/mxaudit.toml: [scan] %s is not a flag of mxaudit scan", key)
		}
	}
}
