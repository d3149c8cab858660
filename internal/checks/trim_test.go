package checks

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/mxaudit/mxaudit/audit"
	"github.com/mxaudit/mxaudit/plugins/checkspb"
)

func TestEncodeForChecks(t *testing.T) {
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = "S: 250-" + strings.Repeat("y", 2000)
	}
	lines[0], lines[999] = "S: 220 first", "S: 221 last"
	r := &audit.Result{Partner: audit.Partner{Name: "p", Notes: strings.Repeat("ü", 5000)},
		SMTP: audit.SMTP{Transcript: lines}, OCSPStaple: make([]byte, 3000), Error: "short"}
	tests := []struct {
		name             string
		max              int
		trimmed, fits    bool
		first, last, gap string
	}{
		{"fits whole", 4 << 20, false, true, "S: 220 first", "S: 221 last", ""},
		{"trimmed", 200 << 10, true, true, "S: 220 first", "S: 221 last", "[960 lines left out: the result was too large for the check plugins]"},
		{"too large even trimmed", 10 << 10, true, false, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, trimmed, ok := encodeForChecks(r, tt.max)
			if trimmed != tt.trimmed || ok != tt.fits {
				t.Fatalf("trimmed %v, fits %v; want %v, %v", trimmed, ok, tt.trimmed, tt.fits)
			}
			if !ok {
				return
			}
			if len(enc) > tt.max {
				t.Errorf("%d bytes, over %d", len(enc), tt.max)
			}
			var m checkspb.Result
			if err := proto.Unmarshal(enc, &m); err != nil {
				t.Fatal(err)
			}
			tr := m.Smtp.Transcript
			if tr[0] != tt.first || tr[len(tr)-1] != tt.last {
				t.Errorf("transcript runs %q .. %q", tr[0], tr[len(tr)-1])
			}
			if tt.gap != "" {
				if len(tr) != 41 || tr[20] != tt.gap || len(tr[1]) > 1024+30 || m.OcspStaple != nil {
					t.Errorf("trimmed transcript: %d lines, gap %q, line 1 %d bytes, staple %d bytes", len(tr), tr[20], len(tr[1]), len(m.OcspStaple))
				}
				if n := m.Partner.Notes; !strings.HasSuffix(n, " [5904 bytes left out]") || !strings.HasPrefix(n, "üü") {
					t.Errorf("notes cut to %q...", n[:20])
				}
			}
		})
	}
}
