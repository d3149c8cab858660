package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/mxaudit/mxaudit/audit"
)

// TestStreamSameAsLoad: Stream reads every inventory, good or bad, as Load
// reads it whole: the same rows in the same order, the same bad rows, the
// same encoding, or the same error.
func TestStreamSameAsLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{
		"empty.csv":        "",
		"blank.csv":        "  \n\n",
		"utf16.csv":        "\xFF\xFEp\x00",
		"header-only.csv":  "partner,host\n",
		"no-newline.csv":   "partner,host\nA,mx.a.example",
		"bom.csv":          "\xEF\xBB\xBFpartner,host\nA,mx.a.example\n",
		"split-rune.csv":   "partner,host,notes\nA,mx.a.example," + strings.Repeat("x", 1<<20-2) + "é\n",
		"late-1252.csv":    "partner,host,notes\nA,mx.a.example," + strings.Repeat("x", 1<<20) + "\xE9\n",
		"duplicates.csv":   "partner,host\nA,mx.a.example\na,mx.a.example\nB,mx.a.example\n",
		"missing-cols.csv": "partner,notes\nA,x\n",
		"cr-only-1252.csv": "partner;host;notes\rM\xFCller;mx.m.example;caf\xE9\r",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, wantErr := Load(path)
			var rows []audit.Partner
			got, err := Stream(path, func(p audit.Partner) error { rows = append(rows, p); return nil })
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if wantErr != nil {
				return
			}
			if !reflect.DeepEqual(rows, want.Partners) {
				t.Errorf("rows differ:\n got %+v\nwant %+v", rows, want.Partners)
			}
			if !reflect.DeepEqual(got.Errors, want.Errors) || got.Encoding != want.Encoding {
				t.Errorf("errors %v (%s), want %v (%s)", got.Errors, got.Encoding, want.Errors, want.Encoding)
			}
		})
	}
}

// TestStreamBounded: streaming 200,000 rows holds one row and a digest of
// each one before it, not the rows: the heap grows by under 60 bytes a row.
func TestStreamBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 15 MB inventory")
	}
	grow := func(n int) uint64 {
		p := filepath.Join(t.TempDir(), "inv.csv")
		var b strings.Builder
		b.WriteString("partner,host,address,port,notes\n")
		for i := range n {
			fmt.Fprintf(&b, "partner-%07d,mx%07d.example,127.1.%d.%d,25,some notes about this partner\n", i, i, i>>8&0xff, i&0xff)
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		var peak uint64
		rows := 0
		if _, err := Stream(p, func(audit.Partner) error {
			if rows++; rows%20000 == 0 {
				runtime.GC() // the live heap: what the stream holds
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if rows != n {
			t.Fatalf("%d rows, want %d", rows, n)
		}
		return peak - min(peak, before)
	}
	small, large := grow(20000), grow(200000)
	perRow := float64(large) / 200000
	t.Logf("heap while streaming: %d KB for 20k rows, %d KB for 200k rows (%.0f bytes a row)", small>>10, large>>10, perRow)
	if perRow > 60 {
		t.Errorf("streaming holds %.0f bytes a row; want the rows let go (under 60)", perRow)
	}
}
