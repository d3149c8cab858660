package mailing

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSendLogLines: the send log is one JSON line a delivery, appended; an
// older version's JSON array is read and rewritten as lines; a last line
// cut short by a crash is left out and cut off; a bad line is named.
func TestSendLogLines(t *testing.T) {
	a := LogEntry{Run: "r", Partner: "Fabrikam", To: "postmaster@fabrikam.example", Hosts: []string{"mx1.fabrikam.example:25"}, MessageID: "a@corp.example", Sent: started}
	b := LogEntry{Run: "r", Owner: true, To: "owner@corp.example", MessageID: "b@corp.example", Sent: started}
	c := LogEntry{Run: "r", Partner: "Northwind", To: "ops@northwind.example", MessageID: "c@corp.example", Sent: started}
	line := func(e LogEntry) string { j, _ := json.Marshal(e); return string(j) + "\n" }
	array, _ := json.MarshalIndent([]LogEntry{a, b}, "", "  ")
	tests := []struct {
		name    string
		file    string // "" for no file
		entries int    // read from it
		wantErr string
	}{
		{name: "no file", entries: 0},
		{name: "lines", file: line(a) + line(b), entries: 2},
		{name: "an older version's array", file: string(array) + "\n", entries: 2},
		{name: "a last line cut short", file: line(a) + line(b)[:20], entries: 1},
		{name: "a bad line in the middle", file: line(a) + "{\"run\": 1}\n" + line(b), wantErr: "send log.json: line 2: json: cannot unmarshal number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "send log.json")
			if tc.file != "" {
				os.WriteFile(path, []byte(tc.file), 0o644)
			}
			l, err := OpenLog(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != tc.entries {
				t.Fatalf("%d entries, want %d", len(l.Entries), tc.entries)
			}
			if err := l.Add(c); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(path)
			if n := strings.Count(string(raw), "\n"); n != tc.entries+1 || !strings.HasSuffix(string(raw), line(c)) {
				t.Errorf("file after Add: %d lines, want %d:\n%s", n, tc.entries+1, raw)
			}
			again, err := OpenLog(path)
			if err != nil || len(again.Entries) != tc.entries+1 {
				t.Fatalf("read again: %v, %d entries", err, len(again.Entries))
			}
			m := &Message{Partner: "Northwind", To: "OPS@northwind.example"}
			if e, ok := again.Find("r", m); !ok || e.MessageID != "c@corp.example" {
				t.Errorf("Find: %+v %v", e, ok)
			}
			if _, ok := again.Find("s", m); ok {
				t.Error("found in another run")
			}
		})
	}
}
